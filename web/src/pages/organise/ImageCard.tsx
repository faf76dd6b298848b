import type { KeyboardEvent, Ref } from 'react';
import { TopKBars } from '../../components/TopKBars';
import type { OrganisedImageView } from './organiser-api';

interface Props {
  ref?: Ref<HTMLElement>;
  image: OrganisedImageView;
  labels: string[];
  /** The user may correct, select and delete (annotator or admin). */
  editable: boolean;
  selected: boolean;
  /** The card the keyboard is on: the only one reached by Tab. */
  current: boolean;
  busy: boolean;
  onFocus: () => void;
  onKeyDown: (e: KeyboardEvent<HTMLElement>) => void;
  onSelect: (shift: boolean) => void;
  onLabel: (label: string) => void;
  onDelete: () => void;
}

/** One image: its thumbnail, the model's three best guesses, and its label, which can be changed. */
export function ImageCard(p: Props) {
  const { image } = p;
  const percent = Math.round(image.probability * 100);
  return (
    <li className={`image-card${p.selected ? ' selected' : ''}${p.busy ? ' busy' : ''}`}>
      <article
        ref={p.ref}
        tabIndex={p.current ? 0 : -1}
        aria-label={`${image.name}: ${image.label}${image.corrected ? ', corrected' : `, predicted ${percent}%`}${p.selected ? ', selected' : ''}`}
        onFocus={(e) => {
          if (e.target === e.currentTarget) p.onFocus();
        }}
        onKeyDown={p.onKeyDown}
      >
        <img src={`${image.thumbnail}?size=320`} alt="" width={160} height={160} loading="lazy" />
        <p className="image-name" title={image.name}>
          {image.name}
        </p>
        <TopKBars topK={image.top_k} caption={`Model's top guesses for ${image.name}`} />
        <div className="card-controls">
          {p.editable ? (
            <>
              <label className="select-box">
                <input
                  type="checkbox"
                  checked={p.selected}
                  onChange={(e) => p.onSelect((e.nativeEvent as MouseEvent).shiftKey)}
                  aria-label={`Select ${image.name}`}
                />
                <span aria-hidden="true">Select</span>
              </label>
              <select
                aria-label={`Class of ${image.name}`}
                value={image.label}
                disabled={p.busy}
                onChange={(e) => p.onLabel(e.target.value)}
              >
                {(p.labels.includes(image.label) ? p.labels : [image.label, ...p.labels]).map((l) => (
                  <option key={l} value={l}>
                    {l}
                  </option>
                ))}
              </select>
              <button
                type="button"
                className="secondary icon"
                aria-label={`Delete ${image.name}`}
                disabled={p.busy}
                onClick={p.onDelete}
              >
                Delete
              </button>
            </>
          ) : (
            <span className="label-text">{image.label}</span>
          )}
          {image.corrected && <span className="corrected-badge">corrected</span>}
        </div>
      </article>
    </li>
  );
}
