import { useEffect, useId, useRef, useState, type FormEvent, type ReactNode } from 'react';
import { Button } from './Button.tsx';
import { FormError } from './Field.tsx';

/**
 * A modal confirmation on the native <dialog>: the browser traps focus, Escape cancels and focus returns to the
 * button that opened it. With `confirmText`, the operator must type that text first (for destructive acts such as
 * a kill switch or a suspension).
 */
export function ConfirmDialog({
  open,
  title,
  children,
  confirmLabel,
  danger = false,
  busy = false,
  error,
  confirmText,
  onConfirm,
  onCancel,
}: {
  open: boolean;
  title: string;
  children?: ReactNode;
  confirmLabel: string;
  danger?: boolean;
  busy?: boolean;
  /** A message to show when the action failed; the dialog stays open. */
  error?: string | null;
  confirmText?: string;
  onConfirm: () => void;
  onCancel: () => void;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  const typedId = useId();
  const [typed, setTyped] = useState('');

  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (open && !dialog.open) dialog.showModal();
    if (!open && dialog.open) dialog.close();
  }, [open]);

  const matches = !confirmText || typed.trim() === confirmText;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (matches && !busy) onConfirm();
  };

  return (
    <dialog
      ref={ref}
      className="dialog card"
      aria-labelledby={titleId}
      onCancel={(e) => {
        e.preventDefault();
        if (!busy) onCancel();
      }}
      onClose={() => setTyped('')}
    >
      {open ? (
        <form method="dialog" onSubmit={submit} className="dialog-body">
          <h2 id={titleId}>{title}</h2>
          {children}
          {confirmText ? (
            <div className="field">
              <label htmlFor={typedId}>
                Type <strong>{confirmText}</strong> to confirm
              </label>
              <input
                id={typedId}
                autoComplete="off"
                value={typed}
                onChange={(e) => setTyped(e.target.value)}
                autoFocus
              />
            </div>
          ) : null}
          <FormError>{error}</FormError>
          <div className="dialog-actions">
            <Button onClick={onCancel} disabled={busy}>
              Cancel
            </Button>
            <Button type="submit" variant={danger ? 'danger' : 'primary'} busy={busy} disabled={!matches}>
              {confirmLabel}
            </Button>
          </div>
        </form>
      ) : null}
    </dialog>
  );
}
