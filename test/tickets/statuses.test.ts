import { expect } from 'chai';
import { STATUSES } from '../../tickets/model.js';
import { TRANSITIONS, allowedMoves, findTransition, type Mover } from '../../tickets/statuses.js';

// SPEC §3.2, row by row: from, to, who may cause it.
const SPEC_ROWS: [string, string, Mover][] = [
  ['pending', 'active', 'agent'],
  ['active', 'on_hold', 'agent'],
  ['active', 'idle', 'automation'],
  ['active', 'resolved', 'agent'],
  ['active', 'closed', 'agent'],
  ['active', 'closed', 'admin'],
  ['active', 'pending', 'system'],
  ['on_hold', 'active', 'admin'],
  ['on_hold', 'pending', 'automation'],
  ['idle', 'on_hold', 'agent'],
  ['idle', 'active', 'customer'],
  ['idle', 'closed', 'agent'],
  ['idle', 'closed', 'automation'],
  ['proactive', 'active', 'customer'],
  ['resolved', 'active', 'customer'],
  ['resolved', 'closed', 'automation'],
  ['resolved', 'closed', 'agent'],
  ['closed', 'pending', 'admin'],
  ['closed', 'active', 'admin'],
];

describe('status table (SPEC §3.2)', () => {
  for (const [from, to, who] of SPEC_ROWS) {
    it(`allows ${from} -> ${to} by ${who}`, () => {
      expect(findTransition(from as any, to as any, who), `${from}->${to} by ${who}`).to.not.equal(undefined);
    });
  }

  it('refuses every move that is not in the table, for every mover', () => {
    const movers: Mover[] = ['customer', 'agent', 'admin', 'system', 'automation'];
    let refused = 0;
    for (const from of STATUSES) {
      for (const to of STATUSES) {
        for (const who of movers) {
          const inTable = TRANSITIONS.some((t) => t.from === from && t.to === to && (t.by.includes(who) || (who === 'admin' && t.by.includes('agent'))));
          expect(!!findTransition(from, to, who), `${from}->${to} by ${who}`).to.equal(inTable);
          if (!inTable) refused++;
        }
      }
    }
    expect(refused).to.be.greaterThan(150);
  });

  it('keeps agents from admin-only moves and customers from agent moves', () => {
    expect(findTransition('on_hold', 'active', 'agent')).to.equal(undefined);
    expect(findTransition('closed', 'pending', 'agent')).to.equal(undefined);
    expect(findTransition('active', 'resolved', 'customer')).to.equal(undefined);
    expect(findTransition('pending', 'closed', 'agent')).to.equal(undefined);
  });

  it('names the allowed moves for the 409 message', () => {
    expect(allowedMoves('active', 'agent')).to.have.members(['on_hold', 'resolved', 'closed']);
    expect(allowedMoves('closed', 'agent')).to.deep.equal([]);
    expect(allowedMoves('closed', 'admin')).to.have.members(['pending', 'active']);
  });
});
