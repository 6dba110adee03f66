/** The campaigns of the correct examples of group `controls-b` (see `correct-drivers.ts`). */
import { campaigns } from './correct-drivers.js';

campaigns('controls-b');
