/**
 * The timeline page's script, inlined into the page. Plain ES2017 with no dependencies: it reads
 * the model from the `timeline-data` block, draws only the columns in view (so a trace of
 * thousands of events stays light), and shows an event's full text on hover and on click. All
 * text goes in through `textContent`, never through markup.
 */

import { DRAW_SCRIPT } from './client-draw.js';
import { INTERACT_SCRIPT } from './client-interact.js';

/** The page script: one function, so its two halves share the model and the drawing state. */
export const TIMELINE_SCRIPT = `
(function () {
  'use strict';
${DRAW_SCRIPT}
${INTERACT_SCRIPT}
})();
`;
