// Training mode's side panels: the feedback on a training case once the reader's score of it is
// stored (the truth and its lesions, the call the score makes and whether it is right, and in arms
// that show the AI whether the AI was right: its score is in the AI panel already), and the qualification (progress, each criterion
// with its figure and threshold, the date once qualified). What they say is worked out by the
// pure functions (tested without a DOM); the render functions draw it.

import { describeValues, h } from './ui.js';

// Criteria that a figure must exceed; every other one asks for at least its threshold.
const STRICT = new Set(['calibration.positives_above_negatives']);

/** A figure as the panel shows it: whole numbers as they are, others to three decimals at most, none as a dash. */
export function figure(value) {
  if (value === null || value === undefined) return '–';
  return Number.isInteger(value) ? String(value) : String(Number(value.toFixed(3)));
}

function score(value) {
  return value <= 1 ? value.toFixed(2) : value.toFixed(1);
}

function plural(n, word) {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** The AI's call on the case against truth; its score is in the AI panel, beside the image. */
function aiCall(output, diseased) {
  const findings = output.findings.length ? ` · ${plural(output.findings.length, 'AI finding')} on the image` : '';
  if (typeof output.operating_point !== 'number') return `The AI makes no call (no operating point)${findings}`;
  const positive = output.score >= output.operating_point;
  const verdict = positive === diseased ? 'correct' : 'incorrect';
  const side = positive ? 'at or above' : 'below';
  return `AI call: ${positive ? 'positive' : 'negative'} — ${verdict} (score ${score(output.score)} ${side} its operating point ${score(output.operating_point)})${findings}`;
}

/**
 * The feedback in words. ``read``: the reader's stored score; ``feedback``: from the server.
 * @returns {{truth: string, diseased: boolean, score: string, call: string, correct: boolean|null, ai: string[]|null}}
 */
export function describeFeedback(feedback, read, scale = null) {
  const diseased = feedback.truth === 1;
  const lesions = feedback.lesions.length;
  const truth = diseased
    ? `Diseased${lesions ? ` · ${plural(lesions, 'lesion')}, drawn on the image as ${lesions === 1 ? 'a truth mark' : 'truth marks'}` : ''}`
    : 'Not diseased';
  let call;
  if (feedback.call === null) call = 'Your score makes no yes/no call (the study has no decision threshold)';
  else call = `Your call: ${feedback.call ? 'positive' : 'negative'} — ${feedback.correct ? 'correct' : 'incorrect'}`;
  const ai = feedback.ai === null ? null : feedback.ai.length === 0 ? ['The AI has no output for this case'] : feedback.ai.map((output) => aiCall(output, diseased));
  return { truth, diseased, score: `Your score: ${describeValues(read, scale)}`, call, correct: feedback.correct, ai };
}

/**
 * The qualification panel in words: where the reader stands, progress, each criterion.
 * @param {object} training the overview (payloads.readTraining)
 * @param {{done: number, total: number}} progress training reads stored or waiting to be sent
 */
export function describeQualification(training, progress) {
  const evaluation = training.qualification;
  let standing;
  if (training.qualified_at) standing = `Qualified on ${training.qualified_at.slice(0, 10)} — your reading sessions are open`;
  else if (training.required) standing = 'Training required: your reading sessions open once you qualify';
  else standing = 'Practice: this study asks for no qualification';
  const criteria = (evaluation?.criteria || []).map((c) => ({
    passed: c.passed,
    text: `${c.label[0].toUpperCase()}${c.label.slice(1)}: ${figure(c.value)} (needs ${STRICT.has(c.name) ? '>' : '≥'} ${figure(c.threshold)})`,
    state: c.passed ? 'passed' : 'not yet',
    note: c.note,
  }));
  return {
    qualified: Boolean(training.qualified_at),
    standing,
    progress: `${progress.done} of ${progress.total} training reads`,
    summary: evaluation && !training.qualified_at ? `Still needed: ${evaluation.summary}` : '',
    criteria,
  };
}

/** The feedback panel, with the button to the next case (Enter does the same); emptied and hidden without feedback. */
export function renderFeedback(section, shown, { last = false, onNext } = {}) {
  section.replaceChildren();
  section.hidden = !shown;
  if (!shown) return;
  const next = h('button', { type: 'button', id: 'rw-next', class: 'primary', 'aria-keyshortcuts': 'Enter' }, last ? 'Finish training ' : 'Next training case ', h('kbd', {}, 'Enter'));
  next.addEventListener('click', onNext);
  section.append(...[
    h('h2', {}, 'Feedback'),
    h('p', { id: 'rw-truth', class: `rw-truth ${shown.diseased ? 'pos' : 'neg'}` }, h('span', { class: 'lbl' }, 'Truth'), ' ', shown.truth),
    h('p', { id: 'rw-your-score' }, shown.score),
    h('p', { id: 'rw-call', class: `rw-call ${shown.correct === null ? '' : shown.correct ? 'correct' : 'incorrect'}` }, shown.correct === null ? null : shown.correct ? '✓ ' : '✗ ', shown.call),
    shown.ai ? h('div', { id: 'rw-feedback-ai', class: 'rw-feedback-ai' }, h('h3', {}, 'The AI on this case'), shown.ai.map((line) => h('p', {}, line))) : null,
    next,
  ].filter(Boolean)); // parts that do not apply are null, which append would write as text
  next.focus();
}

/** The qualification panel; once qualified, the way back to the worklist where the sessions are open. */
export function renderQualification(section, shown, { worklistUrl }) {
  section.replaceChildren(...[
    h('h2', {}, 'Qualification'),
    h('p', { id: 'rw-standing', class: shown.qualified ? 'rw-qualified' : '' }, shown.standing),
    shown.qualified ? h('p', {}, h('a', { href: worklistUrl }, 'Go to your worklist')) : null,
    h('p', { id: 'rw-training-progress', class: 'muted' }, shown.progress),
    shown.criteria.length
      ? h('ul', { class: 'rw-criteria', 'aria-label': 'Qualification criteria' }, shown.criteria.map((c) => h(
          'li',
          { class: c.passed ? 'met' : 'unmet', title: c.note },
          h('span', { class: 'mark', 'aria-hidden': 'true' }, c.passed ? '✓' : '○'),
          ' ',
          c.text,
          ' ',
          h('strong', { class: 'state' }, c.state),
        )))
      : null,
    shown.summary ? h('p', { class: 'muted' }, shown.summary) : null,
  ].filter(Boolean));
  section.hidden = false;
}
