import { useId, type InputHTMLAttributes, type ReactNode, type SelectHTMLAttributes } from 'react';
import { fieldErrorsOf, messageOf } from './errors.ts';

interface FieldProps extends InputHTMLAttributes<HTMLInputElement> {
  label: string;
  /** Server messages for this field (error.data.fieldErrors[name]). */
  errors?: string[] | undefined;
  hint?: ReactNode;
}

export function Field({ label, errors, hint, id, ...input }: FieldProps) {
  const generated = useId();
  const inputId = id ?? generated;
  const hintId = `${inputId}-hint`;
  const errorId = `${inputId}-error`;
  const invalid = Boolean(errors?.length);
  const describedBy = [hint ? hintId : null, invalid ? errorId : null].filter(Boolean).join(' ') || undefined;
  return (
    <div className={invalid ? 'field field-invalid' : 'field'}>
      <label htmlFor={inputId}>{label}</label>
      <input id={inputId} aria-invalid={invalid || undefined} aria-describedby={describedBy} {...input} />
      {hint ? (
        <p id={hintId} className="field-hint">
          {hint}
        </p>
      ) : null}
      {invalid ? (
        <p id={errorId} className="field-error">
          {label} {errors!.join('; ')}
        </p>
      ) : null}
    </div>
  );
}

interface SelectFieldProps extends SelectHTMLAttributes<HTMLSelectElement> {
  label: string;
  /** Visually hidden label, for compact controls in a header. */
  hideLabel?: boolean;
}

export function SelectField({ label, hideLabel = false, id, children, ...select }: SelectFieldProps) {
  const generated = useId();
  const selectId = id ?? generated;
  return (
    <div className="field field-inline">
      <label htmlFor={selectId} className={hideLabel ? 'visually-hidden' : undefined}>
        {label}
      </label>
      <select id={selectId} {...select}>
        {children}
      </select>
    </div>
  );
}

/** A message about the whole form (wrong password, server down), announced to screen readers. */
export function FormError({ children }: { children: ReactNode }) {
  if (!children) return null;
  return (
    <div className="form-error" role="alert">
      {children}
    </div>
  );
}

/**
 * The form-level message for a failed submit: field errors are shown beside their inputs, so this is either the
 * ones no input shows or, when there are no field errors, the error's own message.
 */
export function formErrorOf(error: unknown, shownFields: readonly string[]): string | null {
  if (!error) return null;
  const entries = Object.entries(fieldErrorsOf(error));
  if (!entries.length) return messageOf(error);
  const others = entries
    .filter(([key]) => !shownFields.includes(key))
    .map(([key, messages]) => `${key === '_' ? '' : `${key}: `}${messages.join('; ')}`);
  return others.length ? others.join(' ') : null;
}
