import { useState, type FormEvent, type KeyboardEvent } from 'react';
import type { CommandQueued } from '../api/commands';
import type { MessageView } from '../generated/wss';
import { Icon } from './common';

export type SendMessage = (chatId: string, text: string) => Promise<CommandQueued>;

interface Pending {
  commandId: string;
  text: string;
}

const MAX_LENGTH = 1000;

/**
 * Reply box: the text goes to the creator's browser extension, which posts it on the
 * platform; the message shows in the stream when the extension reports it back.
 */
export function Composer({
  chatId,
  fanName,
  messages,
  send,
}: {
  chatId: string;
  fanName: string;
  messages: readonly MessageView[];
  send: SendMessage;
}) {
  const [text, setText] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [pending, setPending] = useState<Pending[]>([]);
  const delivered = new Set(messages.map((m) => m.command_id).filter(Boolean));
  const waiting = pending.filter((p) => !delivered.has(p.commandId));

  const submit = async (event?: FormEvent) => {
    event?.preventDefault();
    const body = text.trim();
    if (!body || busy) return;
    setBusy(true);
    setError(null);
    try {
      const queued = await send(chatId, body);
      setPending((list) => [...list, { commandId: queued.command_id, text: body }]);
      setText('');
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };

  const onKeyDown = (event: KeyboardEvent<HTMLTextAreaElement>) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.nativeEvent.isComposing) {
      event.preventDefault();
      void submit();
    }
  };

  return (
    <form className="composer" onSubmit={submit}>
      {waiting.length ? (
        <ul className="pending" aria-live="polite">
          {waiting.map((p) => (
            <li key={p.commandId}>
              <span className="spinner" aria-hidden="true" /> Sending through the extension: “{p.text}”
            </li>
          ))}
        </ul>
      ) : null}
      {error ? (
        <div className="notice notice-error" role="alert">
          <Icon name="alert" size={16} /> {error}
        </div>
      ) : null}
      <div className="composer-row">
        <label className="visually-hidden" htmlFor={`reply-${chatId}`}>
          Reply to {fanName}
        </label>
        <textarea
          id={`reply-${chatId}`}
          rows={1}
          maxLength={MAX_LENGTH}
          placeholder={`Reply to ${fanName}…`}
          title="Enter sends, Shift+Enter starts a new line"
          enterKeyHint="send"
          value={text}
          onChange={(event) => setText(event.target.value)}
          onKeyDown={onKeyDown}
        />
        <button type="submit" className="primary" disabled={busy || !text.trim()}>
          {busy ? 'Sending…' : 'Send'}
        </button>
      </div>
    </form>
  );
}
