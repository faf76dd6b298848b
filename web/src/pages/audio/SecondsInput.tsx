import { useId } from 'react';

/** A labelled time in seconds within a recording, kept as typed until submitted. */
export function SecondsInput(props: {
  label: string;
  value: string;
  max: number;
  onChange: (value: string) => void;
}) {
  const id = useId();
  return (
    <>
      <label htmlFor={id}>{props.label}</label>
      <input
        id={id}
        type="number"
        step="any"
        min={0}
        max={props.max}
        required
        value={props.value}
        onChange={(e) => props.onChange(e.target.value)}
      />
    </>
  );
}
