/**
 * The app's one way to ask "are you sure?": a ConfirmDialog (never the browser's `confirm()`),
 * opened by `ask(question)` from any handler. The dialog runs the action: it says so while the
 * request runs, shows a failure in words and stays open, and closes when the action succeeds.
 *
 * @example
 * const [dialog, ask] = useConfirm();
 * <button onClick={() => ask({ title: 'Disable Bob?', body: '…', confirmLabel: 'Disable', busyLabel: 'Disabling…', danger: true, run })}>Disable</button>
 * {dialog}
 */
import { useCallback, useEffect, useRef, useState, type ReactNode } from 'react';
import { ConfirmDialog } from './ConfirmDialog.js';

export interface Question {
  title: string;
  body: ReactNode;
  confirmLabel: string;
  busyLabel: string;
  danger?: boolean;
  /** The action; a rejection is shown in the dialog, which stays open. */
  run: () => Promise<void>;
  /**
   * Where the keyboard focus goes once the dialog has closed after the action, when the button
   * that opened it is gone (e.g. a signed-out device's card moved away). Otherwise the focus
   * returns to that button.
   */
  focusAfter?: () => HTMLElement | null | undefined;
}

export function useConfirm(): [ReactNode, (question: Question) => void] {
  const [question, setQuestion] = useState<Question | null>(null);
  const after = useRef<Question['focusAfter']>(undefined);

  // Runs after the dialog's own clean-up (which returns the focus to its opener, when it is still there).
  useEffect(() => {
    if (question || !after.current) return;
    const target = after.current;
    after.current = undefined;
    if (document.activeElement === document.body || !document.activeElement) target()?.focus();
  }, [question]);

  const ask = useCallback((q: Question) => setQuestion(q), []);
  const dialog = question && (
    <ConfirmDialog
      title={question.title}
      confirmLabel={question.confirmLabel}
      busyLabel={question.busyLabel}
      danger={question.danger}
      onConfirm={async () => {
        await question.run();
        after.current = question.focusAfter;
        setQuestion(null);
      }}
      onCancel={() => setQuestion(null)}
    >
      {question.body}
    </ConfirmDialog>
  );
  return [dialog, ask];
}
