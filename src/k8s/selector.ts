/**
 * LabelSelector matching, with the API server's semantics: matchLabels and every
 * matchExpression must hold. `compileSelector` validates once and throws a
 * SelectorError that says which term is wrong.
 */
import { ErrorCode, ShimmyError } from '../errors.js';
import type { V1LabelSelector, V1LabelSelectorRequirement } from '@kubernetes/client-node';

export type Labels = Readonly<Record<string, string>> | undefined;
export type Matcher = (labels: Labels) => boolean;

/** The message carries its own hint, so the ShimmyError has none of its own. */
export class SelectorError extends ShimmyError {
  constructor(message: string) {
    super(ErrorCode.INVALID_SELECTOR, message, '');
    this.name = 'SelectorError';
  }
}

/** A label's value, from the object's own properties only (never `constructor`, `__proto__`, …). */
function label(labels: Labels, key: string): string | undefined {
  if (!labels || !Object.hasOwn(labels, key)) return undefined;
  const v = labels[key];
  return typeof v === 'string' ? v : undefined;
}

/** A label key: an optional DNS-subdomain prefix and "/", then a name of at most 63 characters. */
export const LABEL_KEY = /^(?:[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
/** A label value: empty, or at most 63 characters. */
export const LABEL_VALUE = /^(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;

function checkKey(key: string, where: string): void {
  const prefix = key.includes('/') ? key.slice(0, key.indexOf('/')) : '';
  if (!LABEL_KEY.test(key) || prefix.length > 253) throw new SelectorError(`${where} key ${JSON.stringify(key.slice(0, 80))} is not a label key`);
}

export function compileSelector(selector: V1LabelSelector | undefined): Matcher {
  if (!selector || typeof selector !== 'object') throw new SelectorError('selector is missing');
  const terms: Matcher[] = [];
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    if (typeof value !== 'string') throw new SelectorError(`matchLabels.${key} is not a string`);
    checkKey(key, 'matchLabels');
    terms.push((l) => label(l, key) === value);
  }
  const expressions: unknown = selector.matchExpressions ?? [];
  if (!Array.isArray(expressions)) throw new SelectorError('matchExpressions is not a list');
  for (const [i, expr] of (expressions as V1LabelSelectorRequirement[]).entries()) {
    const { key, operator } = expr ?? {};
    const values = expr?.values ?? [];
    if (typeof key !== 'string' || key === '') throw new SelectorError(`matchExpressions[${i}] has no key`);
    checkKey(key, `matchExpressions[${i}]`);
    if (!Array.isArray(values) || !values.every((v) => typeof v === 'string'))
      throw new SelectorError(`matchExpressions[${i}] (${key}) values is not a list of strings`);
    const set = new Set(values);
    switch (operator) {
      case 'In':
      case 'NotIn':
        if (values.length === 0) throw new SelectorError(`matchExpressions[${i}] (${key} ${operator}) needs values`);
        terms.push(
          operator === 'In'
            ? (l) => {
                const v = label(l, key);
                return v !== undefined && set.has(v);
              }
            : (l) => {
                const v = label(l, key);
                return v === undefined || !set.has(v);
              },
        );
        break;
      case 'Exists':
      case 'DoesNotExist':
        if (values.length > 0) throw new SelectorError(`matchExpressions[${i}] (${key} ${operator}) takes no values`);
        terms.push(operator === 'Exists' ? (l) => label(l, key) !== undefined : (l) => label(l, key) === undefined);
        break;
      default:
        throw new SelectorError(`matchExpressions[${i}] has unknown operator ${JSON.stringify(operator)} (use In, NotIn, Exists or DoesNotExist)`);
    }
  }
  if (terms.length === 0) throw new SelectorError('selector is empty, which would match every pod in the namespace');
  return (labels) => terms.every((t) => t(labels));
}
