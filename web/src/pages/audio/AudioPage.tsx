import { useEffect, useState } from 'react';
import { Link, useNavigate } from 'react-router-dom';
import { api } from '../../api';
import { ErrorAlert } from '../../components/ErrorAlert';
import { usePageTitle } from '../../components/usePageTitle';
import { roleAtLeast, useSession } from '../../session';
import '../../styles/audio.css';
import { formatTime, formatWhen, type Recording } from './annotator-api';
import { RecordingUpload } from './RecordingUpload';

/** The audio annotator's front page: upload a recording, or open one already there. */
export function AudioPage() {
  usePageTitle('Audio');
  const { user } = useSession();
  const navigate = useNavigate();
  const [recordings, setRecordings] = useState<Recording[] | null>(null);
  const [error, setError] = useState<unknown>(null);

  useEffect(() => {
    api<{ recordings: Recording[] }>('/api/recordings').then((r) => setRecordings(r.recordings), setError);
  }, []);

  const canEdit = user ? roleAtLeast(user.role, 'annotator') : false;
  return (
    <section className="page audio-page">
      <h1>Audio annotator</h1>
      <p>
        Upload a recording and the audio model cuts it into labelled segments. Listen, look at the
        spectrogram, then accept each segment or correct its class and boundaries. Every decision is kept with
        the model’s original guess, for the next retraining.
      </p>
      {canEdit ? (
        <RecordingUpload
          onUploaded={(d) => navigate(`/audio/${d.recording.id}`, { state: { created: d.created } })}
        />
      ) : (
        <p className="alert info">You can listen and look; uploading and editing need the annotator role.</p>
      )}
      <h2>Recordings</h2>
      <ErrorAlert error={error} />
      {recordings && !recordings.length && <p className="muted">No recording yet.</p>}
      {recordings && recordings.length > 0 && (
        <div className="table-scroll">
          <table className="recordings">
            <thead>
              <tr>
                <th scope="col">Recording</th>
                <th scope="col">Length</th>
                <th scope="col">Segments</th>
                <th scope="col">Pre-labelled by</th>
                <th scope="col">Uploaded</th>
              </tr>
            </thead>
            <tbody>
              {recordings.map((r) => (
                <tr key={r.id}>
                  <th scope="row">
                    <Link to={`/audio/${r.id}`}>{r.name}</Link>
                  </th>
                  <td>{formatTime(r.duration)}</td>
                  <td>
                    {r.counts.pending} to review, {r.counts.accepted + r.counts.corrected} decided
                  </td>
                  <td>{r.modelRef}</td>
                  <td>
                    {formatWhen(r.uploadedAt)} by {r.uploadedBy}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
