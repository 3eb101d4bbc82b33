// The reading workstation's entry: the page's config (rw-config) names a reading session
// (session.js), in training mode the study whose training cases are read (training.js), or in
// truthing mode the study whose cases its panel labels (truthing.js).
import './styles.css';

import { runSession } from './session.js';
import { runTraining } from './training.js';
import { runTruthing } from './truthing.js';

const config = JSON.parse(document.getElementById('rw-config').textContent);

const run = config.truthingStudyId ? runTruthing : config.trainingStudyId ? runTraining : runSession;
run(config).catch((error) => {
  window.__rw?.errors.push(String(error));
  const status = document.getElementById('rw-status');
  if (!status) return;
  status.hidden = false;
  status.dataset.kind = 'error';
  status.textContent = `The reading workstation could not start: ${error.message || error}`;
});
