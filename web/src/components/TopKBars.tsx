import '../styles/topk-bars.css';

/** The most probable classes of a prediction as labelled bars, the percentage in words for everyone. */
export function TopKBars({
  topK,
  caption,
}: {
  topK: { label: string; probability: number }[];
  caption: string;
}) {
  return (
    <ul className="topk-bars" aria-label={caption}>
      {topK.map((t) => {
        const percent = Math.round(t.probability * 1000) / 10;
        return (
          <li key={t.label}>
            <span className="topk-label" title={t.label}>
              {t.label}
            </span>
            <span className="topk-bar" aria-hidden="true">
              <span style={{ width: `${Math.max(1, percent)}%` }} />
            </span>
            <span className="topk-value">{percent}%</span>
          </li>
        );
      })}
    </ul>
  );
}
