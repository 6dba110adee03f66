/** The campaigns of the correct examples of group `controls-a` (see `correct-drivers.ts`). */
import { campaigns } from './correct-drivers.js';

campaigns('controls-a');
