import { useRef, type KeyboardEvent } from 'react';
import type { OrganiserClasses } from './organiser-api';

/**
 * One tab per class with its count, and "All" first. Arrow keys, Home and End move between tabs
 * and open them (the WAI-ARIA tabs pattern with automatic activation); only the open tab is in
 * the Tab order.
 */
export function ClassTabs({
  classes,
  active,
  onChange,
  panelId,
}: {
  classes: OrganiserClasses;
  active: string | null;
  onChange: (label: string | null) => void;
  panelId: string;
}) {
  const tabs: { label: string | null; text: string; count: number }[] = [
    { label: null, text: 'All', count: classes.total },
    ...classes.classes.map((c) => ({ label: c.label, text: c.label, count: c.count })),
  ];
  const refs = useRef<(HTMLButtonElement | null)[]>([]);
  const index = Math.max(
    0,
    tabs.findIndex((t) => t.label === active),
  );

  const onKey = (e: KeyboardEvent) => {
    const to = { ArrowRight: index + 1, ArrowLeft: index - 1, Home: 0, End: tabs.length - 1 }[e.key];
    if (to === undefined) return;
    e.preventDefault();
    const next = (to + tabs.length) % tabs.length;
    onChange(tabs[next]!.label);
    refs.current[next]?.focus();
  };

  return (
    <div className="class-tabs" role="tablist" aria-label="Classes" onKeyDown={onKey}>
      {tabs.map((t, i) => (
        <button
          key={t.label ?? '\u0000all'}
          ref={(el) => {
            refs.current[i] = el;
          }}
          type="button"
          role="tab"
          aria-selected={i === index}
          aria-controls={panelId}
          tabIndex={i === index ? 0 : -1}
          className={i === index ? 'active' : ''}
          onClick={() => onChange(t.label)}
        >
          {t.text} <span className="count">{t.count}</span>
        </button>
      ))}
    </div>
  );
}
