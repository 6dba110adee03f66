/** The campaigns of the correct examples of group `svm` (see `correct-drivers.ts`). */
import { campaigns } from './correct-drivers.js';

campaigns('svm');
