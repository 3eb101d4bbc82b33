// The one place the viewer reads the reading API's JSON. Each payload is copied into a plain
// object holding only the fields the viewer uses, under the same names; the rest of the viewer
// never sees the raw response. reader_fields.json lists these fields (a node test checks it
// against what the functions below read, and a server test against the output serializers):
// a field added here must be added there, and it must be one a reader may see.
//
// Nothing is read from the worklist (Django renders that page) nor from the response to a
// submitted or revised read (the outbox needs only its status). The training payloads (training
// mode) are listed apart, in training_fields.json: only they carry truth, as feedback once the
// reader's own score of the case is stored. Truthing mode's payloads are listed in truthing_fields.json.

function readScale(scale) {
  return {
    type: scale.type,
    min: scale.min,
    max: scale.max,
    labels: scale.labels,
    binary_decision: scale.binary_decision,
    marks_enabled: scale.marks_enabled,
    max_marks: scale.max_marks,
    revisions_allowed: scale.revisions_allowed,
  };
}

/** GET /sessions/<id>/: the session, its scale and its assignments in reading order. */
export function readSession(payload) {
  return {
    number: payload.number,
    study: { title: payload.study.title, design: payload.study.design },
    is_open: payload.is_open,
    reason_closed: payload.reason_closed,
    scale: readScale(payload.scale),
    assignments: payload.assignments
      .map((a) => ({ id: a.id, order: a.order, arm: a.arm, read: a.read, study_instance_uid: a.study_instance_uid }))
      .sort((a, b) => a.order - b.order),
  };
}

function readMark(mark) {
  return { x: mark.x, y: mark.y, confidence: mark.confidence, instance_uid: mark.instance_uid, frame: mark.frame };
}

/** The reader's own submitted read, as the starting point of a change. */
function readOwnRead(read) {
  return {
    id: read.id,
    rating: read.rating,
    decision: read.decision,
    marks: (read.marks || []).map(readMark),
    comment: read.comment,
  };
}

/** An AI finding as the AI import stores it (box: x, y, width, height; point: x, y; contour: points). */
function readFinding(f) {
  return {
    type: f.type,
    x: f.x,
    y: f.y,
    width: f.width,
    height: f.height,
    points: f.points,
    score: f.score,
    sop_instance_uid: f.sop_instance_uid,
    frame: f.frame,
  };
}

function readAiOutput(output) {
  return {
    model_name: output.model_name,
    model_version: output.model_version,
    score: output.score,
    operating_point: output.operating_point,
    findings: (output.findings || []).map(readFinding),
  };
}

/** GET /assignments/<id>/: one case, the reader's read of it if any, and AI output where shown. */
export function readAssignment(payload) {
  const { read, ai } = payload;
  return {
    id: payload.id,
    order: payload.order,
    arm: { label: payload.arm.label, shows_ai: payload.arm.shows_ai },
    study_instance_uid: payload.study_instance_uid,
    is_open: payload.is_open,
    reason_closed: payload.reason_closed,
    read: read ? readOwnRead(read) : null,
    final_because: payload.final_because,
    ai: ai ? ai.map(readAiOutput) : null,
  };
}

function readItemArm(arm) {
  return { name: arm.name, label: arm.label, shows_ai: arm.shows_ai };
}

/** A qualification evaluation: what is still needed, each criterion with its figure and threshold. */
function readEvaluation(evaluation) {
  return {
    summary: evaluation.summary,
    criteria: evaluation.criteria.map((c) => ({
      name: c.name, label: c.label, value: c.value, threshold: c.threshold, passed: c.passed, note: c.note,
    })),
  };
}

/** GET /studies/<id>/training/: the training cases in every training arm, in order, and the qualification. */
export function readTraining(payload) {
  return {
    study: { title: payload.study.title },
    required: payload.required,
    qualified_at: payload.qualified_at,
    is_open: payload.is_open,
    reason_closed: payload.reason_closed,
    scale: readScale(payload.scale),
    items: payload.items
      .map((item) => ({ case: item.case, order: item.order, arm: readItemArm(item.arm), read: item.read }))
      .sort((a, b) => a.order - b.order),
    qualification: payload.qualification ? readEvaluation(payload.qualification) : null,
  };
}

/** What a reader is shown once their score of a training case is stored. */
function readFeedback(feedback) {
  return {
    truth: feedback.truth,
    lesions: feedback.lesions.map((l) => ({ sop_instance_uid: l.sop_instance_uid, frame: l.frame, x: l.x, y: l.y, radius: l.radius })),
    call: feedback.call,
    correct: feedback.correct,
    ai: feedback.ai ? feedback.ai.map(readAiOutput) : null,
  };
}

/** GET /studies/<id>/training/<case>/<arm>/: one training case, read like an assignment, and its feedback once scored. */
export function readTrainingCase(payload) {
  const { read, ai, feedback } = payload;
  return {
    study_instance_uid: payload.study_instance_uid,
    is_open: payload.is_open,
    reason_closed: payload.reason_closed,
    read: read ? readOwnRead(read) : null,
    ai: ai ? ai.map(readAiOutput) : null,
    feedback: feedback ? readFeedback(feedback) : null,
  };
}

// Truthing mode's payloads (truthing_fields.json): a panel member's panels, cases and disputes, and one case
// with the other experts' labels where the round shows them. Nothing about the AI or readers is in them.

function readTruthMark(mark) {
  return { type: mark.type, sop_instance_uid: mark.sop_instance_uid, frame: mark.frame, points: mark.points.map(([x, y]) => [x, y]) };
}

/** GET /truthing/: the panels the user is on, their role and the round open to them. */
export function readTruthingPanels(payload) {
  return payload.map((p) => ({ study: p.study, title: p.title, role: p.role, round: p.round, state: p.state, reason_closed: p.reason_closed }));
}

/** GET /studies/<id>/truthing/cases/: a truther's cases in order, in the round open to them. */
export function readTruthingCases(payload) {
  return payload.map((c) => ({ case: c.case, position: c.position, round: c.round, done: c.done }));
}

/** GET /studies/<id>/truthing/disputes/: the disputed cases, why, and whether adjudicated. */
export function readTruthingDisputes(payload) {
  return payload.map((d) => ({ case: d.case, why: d.why, adjudicated: d.adjudicated }));
}

/** GET /studies/<id>/truthing/cases/<case>/: one case; ``own`` only says whether it is labelled already. */
export function readTruthingCase(payload) {
  return {
    label: payload.label,
    study_instance_uid: payload.study_instance_uid,
    is_open: payload.is_open,
    reason_closed: payload.reason_closed,
    marks_allowed: [...payload.marks_allowed],
    own: payload.own ? { label: payload.own.label } : null,
    others: payload.others.map((o) => ({ member: o.member, round: o.round, label: o.label, lesions: o.lesions.map(readTruthMark) })),
  };
}
