import { alpine } from './alpine/index.js';
import { docker } from './docker/index.js';
import { generic } from './generic/index.js';
import { go } from './go/index.js';
import { helm } from './helm/index.js';
import { npm } from './npm/index.js';
import { puppet } from './puppet/index.js';
import { pypi } from './pypi/index.js';
import { terraform } from './terraform/index.js';
import { rpm } from './rpm/index.js';
import type { FormatProvider } from './types.js';

/** Every package type the server knows. Adding a format = one folder + one line here. */
const PROVIDERS: FormatProvider[] = [generic, docker, pypi, go, alpine, puppet, npm, helm, rpm, terraform];

export class FormatRegistry {
  private readonly byType = new Map(PROVIDERS.map((p) => [p.type, p]));

  get types(): ReadonlySet<string> {
    return new Set(this.byType.keys());
  }

  get(type: string): FormatProvider {
    const p = this.byType.get(type);
    if (!p) throw new Error(`no format provider for package type ${type}`);
    return p;
  }
}
