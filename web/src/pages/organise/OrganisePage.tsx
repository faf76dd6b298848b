import { useCallback, useEffect, useLayoutEffect, useRef, useState, type KeyboardEvent } from 'react';
import { ErrorAlert } from '../../components/ErrorAlert';
import { useLatestRequest } from '../../components/useLatestRequest';
import { usePageTitle } from '../../components/usePageTitle';
import { roleAtLeast, useSession } from '../../session';
import '../../styles/organise.css';
import { ClassTabs } from './ClassTabs';
import { ConfirmDelete } from './ConfirmDelete';
import { ImageCard } from './ImageCard';
import {
  deleteImages,
  downloadUrl,
  fetchClasses,
  fetchImages,
  PAGE_SIZE,
  relabel,
  type OrganiserClasses,
  type OrganisedImageView,
} from './organiser-api';
import { UploadPanel } from './UploadPanel';

/** The class a letter key picks: the next class after `current` starting with that letter. */
function classForLetter(labels: string[], letter: string, current: string): string | undefined {
  const matching = labels.filter((l) => l.toLowerCase().startsWith(letter));
  if (!matching.length) return undefined;
  return matching[(matching.indexOf(current) + 1) % matching.length];
}

/** How many cards a row of the grid holds now (it reflows with the window). */
function columnsOf(grid: HTMLElement | null): number {
  if (!grid) return 1;
  return Math.max(1, getComputedStyle(grid).gridTemplateColumns.split(' ').filter(Boolean).length);
}

/**
 * The photo organiser: upload many images, see them sorted into tabs by class, correct labels
 * one by one (dropdown or keyboard) or many at once, delete, and download everything (or one
 * class) as a zip of class folders.
 */
export function OrganisePage() {
  usePageTitle('Organise');
  const { user } = useSession();
  const editable = !!user && roleAtLeast(user.role, 'annotator');
  const [classes, setClasses] = useState<OrganiserClasses | null>(null);
  const [tab, setTab] = useState<string | null>(null);
  const [images, setImages] = useState<OrganisedImageView[]>([]);
  const [total, setTotal] = useState(0);
  const [current, setCurrent] = useState(0);
  const [selected, setSelected] = useState<Set<number>>(new Set());
  const [anchor, setAnchor] = useState<number | null>(null);
  const [busy, setBusy] = useState<Set<number>>(new Set());
  const [bulkLabel, setBulkLabel] = useState('');
  const [confirming, setConfirming] = useState<OrganisedImageView[] | null>(null);
  const [status, setStatus] = useState('');
  const [error, setError] = useState<unknown>(null);
  const grid = useRef<HTMLUListElement>(null);
  const cards = useRef<(HTMLElement | null)[]>([]);
  const refocus = useRef(false);
  // Each upload request, change and tab reloads the grid, often while an earlier reload is on its
  // way: only the newest may fill it, or a class tab could end up showing another tab's images.
  const nextLoad = useLatestRequest();

  const load = useCallback(
    async (keep = images.length) => {
      const signal = nextLoad();
      try {
        const [c, page] = await Promise.all([fetchClasses(signal), fetchImages(tab, 0, signal)]);
        let items = page.items;
        // Keep as many cards as were showing, so a change does not collapse a long page.
        while (items.length < Math.min(keep, page.total)) {
          const more = await fetchImages(tab, items.length, signal);
          if (!more.items.length) break;
          items = [...items, ...more.items];
        }
        setClasses(c);
        setImages(items);
        setTotal(page.total);
        setSelected((s) => new Set([...s].filter((id) => items.some((i) => i.id === id))));
        setError(null);
      } catch (e) {
        if (!signal.aborted) setError(e);
      }
    },
    [tab, images.length, nextLoad],
  );
  // The upload panel reports each finished request later, maybe after a change of tab: it must
  // reload the tab showing then, not the one showing when the files were picked.
  const loadNow = useRef(load);
  useLayoutEffect(() => {
    loadNow.current = load;
  });

  useEffect(() => {
    setCurrent(0);
    setSelected(new Set());
    setAnchor(null);
    // Only a change of tab reloads from the start (`load` itself changes with every page of cards).
    void load(PAGE_SIZE);
  }, [tab]);

  // In the commit that shows the reloaded cards, before the browser takes the next key: done in a
  // passive effect, this could pull the focus back from a card the person has already moved to.
  useLayoutEffect(() => {
    const n = images.length;
    if (current >= n && n > 0) setCurrent(n - 1);
    if (refocus.current) {
      refocus.current = false;
      cards.current[Math.min(current, n - 1)]?.focus();
    }
  }, [images, current]);

  const labels = classes?.labels ?? [];

  const applyLabel = async (targets: OrganisedImageView[], label: string) => {
    if (!targets.length) return;
    const ids = targets.map((t) => t.id);
    setBusy(new Set(ids));
    setError(null);
    try {
      await relabel(ids, label);
      await load();
      // Said once the grid shows it (as the review page does), so what is announced is on screen.
      setStatus(
        targets.length === 1
          ? `${targets[0]!.name} is now ${label}.`
          : `${targets.length} images are now ${label}.`,
      );
    } catch (e) {
      setError(e);
    } finally {
      setBusy(new Set());
    }
  };

  const remove = async (targets: OrganisedImageView[]) => {
    setConfirming(null);
    setBusy(new Set(targets.map((t) => t.id)));
    try {
      const { deleted } = await deleteImages(targets.map((t) => t.id));
      refocus.current = true;
      await load();
      setStatus(`Deleted ${deleted} image${deleted === 1 ? '' : 's'}.`);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(new Set());
    }
  };

  const select = (index: number, shift: boolean) => {
    const id = images[index]?.id;
    if (id === undefined) return;
    setSelected((s) => {
      const next = new Set(s);
      if (shift && anchor !== null) {
        const [from, to] = anchor < index ? [anchor, index] : [index, anchor];
        for (const i of images.slice(from, to + 1)) next.add(i.id);
      } else if (next.has(id)) next.delete(id);
      else next.add(id);
      return next;
    });
    if (!shift) setAnchor(index);
  };

  const move = (to: number, shift: boolean) => {
    const index = Math.max(0, Math.min(images.length - 1, to));
    if (shift && editable) {
      const start = anchor ?? current;
      setAnchor(start);
      const [from, end] = start < index ? [start, index] : [index, start];
      setSelected((s) => new Set([...s, ...images.slice(from, end + 1).map((i) => i.id)]));
    }
    setCurrent(index);
    cards.current[index]?.focus();
  };

  const onCardKey = (index: number, e: KeyboardEvent<HTMLElement>) => {
    // Keys typed into a card's own controls (its dropdown, checkbox, button) are theirs.
    if (e.target !== e.currentTarget || e.ctrlKey || e.metaKey || e.altKey) return;
    const image = images[index]!;
    const cols = columnsOf(grid.current);
    const moves: Record<string, number> = {
      ArrowRight: index + 1,
      ArrowLeft: index - 1,
      ArrowDown: index + cols,
      ArrowUp: index - cols,
      Home: 0,
      End: images.length - 1,
    };
    let handled = true;
    if (e.key in moves) move(moves[e.key]!, e.shiftKey);
    else if (!editable) handled = false;
    else if (e.key === ' ') select(index, e.shiftKey);
    else if (e.key === 'Delete' || e.key === 'Backspace')
      setConfirming(selected.has(image.id) ? images.filter((i) => selected.has(i.id)) : [image]);
    else if (/^[1-9]$/.test(e.key)) {
      const label = labels[Number(e.key) - 1];
      if (label && label !== image.label) {
        refocus.current = true;
        void applyLabel([image], label);
      } else handled = !!label;
    } else if (/^[a-z]$/i.test(e.key)) {
      const label = classForLetter(labels, e.key.toLowerCase(), image.label);
      if (label && label !== image.label) {
        refocus.current = true;
        void applyLabel([image], label);
      } else handled = !!label;
    } else handled = false;
    if (handled) e.preventDefault();
  };

  const chosen = images.filter((i) => selected.has(i.id));
  const tabCount =
    tab === null ? (classes?.total ?? 0) : (classes?.classes.find((c) => c.label === tab)?.count ?? 0);

  return (
    <section className="page organise">
      <h1>Organise</h1>
      <p className="muted">
        {classes?.model
          ? `Images are sorted by ${classes.model} into one folder per class.`
          : 'No model sorts images yet: register and promote one first.'}
      </p>
      {editable && <UploadPanel onUploaded={() => void loadNow.current()} />}
      <ErrorAlert error={error} />
      <p className="visually-hidden" aria-live="polite">
        {status}
      </p>
      {classes && (
        <ClassTabs classes={classes} active={tab} onChange={(t) => setTab(t)} panelId="organise-panel" />
      )}
      <div id="organise-panel" role="tabpanel" aria-label={tab === null ? 'All images' : `Class ${tab}`}>
        <div className="organise-toolbar">
          <a className="button-link" href={downloadUrl(null)} download>
            Download all (zip)
          </a>
          {tab !== null && tabCount > 0 && (
            <a className="button-link secondary" href={downloadUrl(tab)} download>
              Download {tab} (zip)
            </a>
          )}
          {editable && chosen.length > 0 && (
            <form
              className="bulk"
              aria-label="Change the selected images"
              onSubmit={(e) => {
                e.preventDefault();
                if (bulkLabel) void applyLabel(chosen, bulkLabel);
              }}
            >
              <span>{chosen.length} selected</span>
              <label>
                <span className="visually-hidden">Class for the selected images</span>
                <select value={bulkLabel} onChange={(e) => setBulkLabel(e.target.value)}>
                  <option value="">Move to class…</option>
                  {labels.map((l) => (
                    <option key={l} value={l}>
                      {l}
                    </option>
                  ))}
                </select>
              </label>
              <button type="submit" disabled={!bulkLabel}>
                Relabel selected
              </button>
              <button type="button" className="danger" onClick={() => setConfirming(chosen)}>
                Delete selected
              </button>
              <button type="button" className="secondary" onClick={() => setSelected(new Set())}>
                Clear selection
              </button>
            </form>
          )}
        </div>
        {images.length === 0 ? (
          <p className="empty">
            {classes && classes.total === 0 ? 'No images yet.' : 'No images in this class.'}
          </p>
        ) : (
          <ul className="image-grid" ref={grid} aria-label="Images">
            {images.map((image, index) => (
              <ImageCard
                key={image.id}
                ref={(el) => {
                  cards.current[index] = el;
                }}
                image={image}
                labels={labels}
                editable={editable}
                selected={selected.has(image.id)}
                current={index === Math.min(current, images.length - 1)}
                busy={busy.has(image.id)}
                onFocus={() => setCurrent(index)}
                onKeyDown={(e) => onCardKey(index, e)}
                onSelect={(shift) => select(index, shift)}
                onLabel={(label) => void applyLabel([image], label)}
                onDelete={() => setConfirming([image])}
              />
            ))}
          </ul>
        )}
        {images.length < total && (
          <button
            type="button"
            className="secondary more"
            onClick={() => void load(images.length + PAGE_SIZE)}
          >
            Show more ({total - images.length} left)
          </button>
        )}
        {editable && images.length > 0 && <KeyHelp labels={labels} />}
      </div>
      {confirming && (
        <ConfirmDelete
          images={confirming}
          onConfirm={() => void remove(confirming)}
          onCancel={() => setConfirming(null)}
        />
      )}
    </section>
  );
}

function KeyHelp({ labels }: { labels: string[] }) {
  return (
    <details className="key-help">
      <summary>Keyboard</summary>
      <ul>
        <li>Arrow keys, Home, End: move between images</li>
        <li>Space: select; Shift with arrows or Space: select a range</li>
        <li>Delete: delete the image (or the selection) after asking</li>
        <li>A letter: the next class starting with it</li>
        {labels.slice(0, 9).map((l, i) => (
          <li key={l}>
            {i + 1}: {l}
          </li>
        ))}
      </ul>
    </details>
  );
}
