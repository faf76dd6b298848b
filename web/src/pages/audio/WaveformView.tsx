import { forwardRef, useEffect, useImperativeHandle, useRef, useState } from 'react';
import WaveSurfer from 'wavesurfer.js';
import RegionsPlugin, { type Region } from 'wavesurfer.js/dist/plugins/regions.esm.js';
import { classColour, formatTime, type Segment } from './annotator-api';

export interface WaveformHandle {
  playPause(): void;
  /** Plays one segment and stops at its end. */
  playSegment(s: Segment): void;
  seek(seconds: number): void;
  currentTime(): number;
}

interface Props {
  audioUrl: string;
  spectrogramUrl: string;
  /** What the picture shows, for people who cannot see it. */
  spectrogramAlt: string;
  duration: number;
  classes: string[];
  segments: Segment[];
  selectedId: number | null;
  /** Pixels per second. */
  zoom: number;
  editable: boolean;
  onSelect: (id: number) => void;
  /** A region's edge was dragged: the segment's new bounds. */
  onBoundsChange: (id: number, start: number, end: number) => void;
  onPlayingChange: (playing: boolean) => void;
}

/** Region colours carry the class; alpha keeps the waveform and spectrogram visible through them. */
const withAlpha = (hex: string, alpha: number) =>
  `${hex}${Math.round(alpha * 255)
    .toString(16)
    .padStart(2, '0')}`;

/**
 * The tag on a region: class and probability of the model's guess, ✓ once accepted, ✎ once a
 * person chose another class. Styled inline: regions live in wavesurfer's shadow DOM, which the
 * page's stylesheets do not reach.
 */
function regionTag(s: Segment, selected: boolean): HTMLElement {
  const tag = document.createElement('span');
  const p =
    s.prediction && s.prediction.label === s.label ? ` ${Math.round(s.prediction.probability * 100)}%` : '';
  const mark = s.status === 'accepted' ? '✓ ' : s.status === 'corrected' ? '✎ ' : '';
  tag.textContent = `${mark}${s.label}${p}`;
  Object.assign(tag.style, {
    display: 'inline-block',
    margin: '2px',
    padding: '0 4px',
    borderRadius: '3px',
    background: 'rgba(255, 255, 255, 0.9)',
    color: '#1a1f29',
    font: `${selected ? 700 : 500} 12px system-ui, sans-serif`,
    whiteSpace: 'nowrap',
    pointerEvents: 'none',
  });
  return tag;
}

/**
 * The recording's waveform (wavesurfer.js) with its log-mel spectrogram under it, scrolling
 * together, and the segments as coloured regions whose edges can be dragged. The spectrogram is
 * the server's picture of what the model hears, put inside wavesurfer's wrapper so zoom and
 * scroll move both alike.
 */
export const WaveformView = forwardRef<WaveformHandle, Props>(function WaveformView(props, ref) {
  const container = useRef<HTMLDivElement>(null);
  const surfer = useRef<WaveSurfer | null>(null);
  const regions = useRef<ReturnType<typeof RegionsPlugin.create> | null>(null);
  const [ready, setReady] = useState(false);
  const [time, setTime] = useState(0);
  const [failed, setFailed] = useState<string | null>(null);
  // Handlers change with every render; the wavesurfer listeners, set up once, read the latest.
  const latest = useRef(props);
  latest.current = props;

  useEffect(() => {
    const plugin = RegionsPlugin.create();
    const ws = WaveSurfer.create({
      container: container.current!,
      url: props.audioUrl,
      height: 96,
      minPxPerSec: props.zoom,
      waveColor: '#4a5568',
      progressColor: '#1f4e8c',
      cursorColor: '#c2410c',
      cursorWidth: 2,
      normalize: true,
      autoScroll: true,
      plugins: [plugin],
    });
    const img = document.createElement('img');
    img.src = props.spectrogramUrl;
    img.alt = props.spectrogramAlt;
    img.draggable = false;
    Object.assign(img.style, {
      display: 'block',
      width: '100%',
      height: '128px',
      pointerEvents: 'none',
    });
    ws.getWrapper().appendChild(img);
    ws.on('ready', () => setReady(true));
    ws.on('error', (e) => setFailed(e.message));
    ws.on('timeupdate', (t) => setTime(t));
    ws.on('play', () => latest.current.onPlayingChange(true));
    ws.on('pause', () => latest.current.onPlayingChange(false));
    plugin.on('region-clicked', (region: Region) => latest.current.onSelect(Number(region.id)));
    plugin.on('region-updated', (region: Region) =>
      latest.current.onBoundsChange(Number(region.id), region.start, region.end),
    );
    surfer.current = ws;
    regions.current = plugin;
    return () => {
      ws.destroy();
      surfer.current = null;
      regions.current = null;
      setReady(false);
    };
    // The recording is fixed for the life of the view; the page remounts it for another one.
  }, []);

  useEffect(() => {
    if (ready) surfer.current?.zoom(props.zoom);
  }, [ready, props.zoom]);

  useEffect(() => {
    const plugin = regions.current;
    if (!ready || !plugin) return;
    plugin.clearRegions();
    for (const s of props.segments) {
      const selected = s.id === props.selectedId;
      const region = plugin.addRegion({
        id: String(s.id),
        start: s.start,
        end: s.end,
        color: withAlpha(classColour(props.classes, s.label), selected ? 0.45 : 0.22),
        content: regionTag(s, selected),
        drag: false,
        resize: props.editable,
        minLength: 0.01,
      });
      if (region.element) {
        region.element.setAttribute('aria-hidden', 'true');
        region.element.style.boxShadow = selected
          ? 'inset 0 0 0 2px #c2410c'
          : 'inset 1px 0 0 rgba(0,0,0,.35)';
      }
    }
  }, [ready, props.segments, props.selectedId, props.classes, props.editable]);

  useImperativeHandle(
    ref,
    () => ({
      playPause: () => void surfer.current?.playPause().catch(() => undefined),
      playSegment: (s) => void surfer.current?.play(s.start, s.end).catch(() => undefined),
      seek: (t) => surfer.current?.setTime(t),
      currentTime: () => surfer.current?.getCurrentTime() ?? 0,
    }),
    [],
  );

  return (
    <div className="waveform-view">
      <div
        ref={container}
        className="waveform"
        role="group"
        aria-label="Waveform and spectrogram; segments are listed below"
      />
      <p className="playhead" aria-live="off">
        {failed ? (
          <span className="alert error" role="alert">
            The audio cannot be played here: {failed}
          </span>
        ) : ready ? (
          <>
            Playhead <strong>{formatTime(time)}</strong> of {formatTime(props.duration)}
          </>
        ) : (
          'Loading the audio…'
        )}
      </p>
    </div>
  );
});
