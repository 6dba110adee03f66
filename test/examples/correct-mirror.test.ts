/** The campaigns of the correct examples of group `mirror` (see `correct-drivers.ts`). */
import { campaigns } from './correct-drivers.js';

campaigns('mirror');
