// Business-hours calendar for SLA clocks: nights, weekends and holidays skipped, in the
// calendar's time zone across daylight-saving changes (both directions); the setting's
// validation; and an SLA due moment through the API that follows the calendar.

import { expect } from 'chai';
import { ManualClock } from '../../gateway/clock.js';
import { BusinessCalendar, validateBusinessHours, type BusinessHours } from '../../tickets/business-hours.js';
import { ApiError } from '../../tickets/errors.js';
import { backends, newPhone, newWamid, startGateway, ticketsOf, waitFor, waTextBody } from '../helpers/gateway-harness.js';

const H = 3_600_000;
const M = 60_000;
const at = (s: string) => Date.parse(s);
const weekdays = (intervals: [string, string][]) => ({ mon: intervals, tue: intervals, wed: intervals, thu: intervals, fri: intervals });

describe('business hours calendar', () => {
  const berlin = new BusinessCalendar(validateBusinessHours({ timeZone: 'Europe/Berlin', weekly: weekdays([['09:00', '17:00']]), holidays: ['2026-12-25'] })!);

  it('skips the weekend across the spring DST change (Friday 16:00 CET + 2 h = Monday 10:00 CEST)', () => {
    const friday = at('2026-03-27T15:00:00Z'); // 16:00 CET
    const due = berlin.add(friday, 2 * H);
    expect(new Date(due).toISOString()).to.equal('2026-03-30T08:00:00.000Z'); // 10:00 CEST
    expect(berlin.between(friday, due)).to.equal(2 * H);
    expect(berlin.between(friday, at('2026-03-30T07:00:00Z'))).to.equal(H); // Monday 09:00 CEST: only Friday's hour
  });

  it('skips nights (16:30 + 1 h = 09:30 the next morning)', () => {
    expect(new Date(berlin.add(at('2026-03-31T14:30:00Z'), H)).toISOString()).to.equal('2026-04-01T07:30:00.000Z');
    expect(berlin.between(at('2026-03-31T14:30:00Z'), at('2026-04-01T07:30:00Z'))).to.equal(H);
  });

  it('skips holidays (Thursday 24 Dec 16:00 + 2 h: Friday 25 Dec is a holiday, then the weekend)', () => {
    expect(new Date(berlin.add(at('2026-12-24T15:00:00Z'), 2 * H)).toISOString()).to.equal('2026-12-28T09:00:00.000Z');
  });

  it('counts from the next opening when the start is outside business hours', () => {
    expect(new Date(berlin.add(at('2026-06-13T10:00:00Z'), 30 * M)).toISOString()).to.equal('2026-06-15T07:30:00.000Z'); // Saturday -> Monday 09:30 CEST
    expect(berlin.between(at('2026-06-13T00:00:00Z'), at('2026-06-15T00:00:00Z'))).to.equal(0);
  });

  it('follows the autumn DST change in another zone (New York, Friday 16:00 EDT + 2 h = Monday 10:00 EST)', () => {
    const ny = new BusinessCalendar(validateBusinessHours({ timeZone: 'America/New_York', weekly: weekdays([['09:00', '17:00']]) })!);
    expect(new Date(ny.add(at('2026-10-30T20:00:00Z'), 2 * H)).toISOString()).to.equal('2026-11-02T15:00:00.000Z');
  });

  it('counts business weeks in full across a DST change (48 h Mon..Mon, 40 h Mon..Fri)', () => {
    expect(berlin.between(at('2026-03-23T00:00:00Z'), at('2026-03-30T22:00:00Z'))).to.equal(48 * H); // Mon 23 .. Mon 30 inclusive
    expect(berlin.between(at('2026-10-19T00:00:00Z'), at('2026-10-26T00:00:00Z'))).to.equal(40 * H); // week before the autumn change
  });

  it('honours several intervals a day (lunch break) and a 24:00 end', () => {
    const cal = new BusinessCalendar(validateBusinessHours({ timeZone: 'UTC', weekly: { mon: [['13:00', '17:00'], ['09:00', '12:00']], sat: [['20:00', '24:00']] } })!);
    expect(new Date(cal.add(at('2026-06-15T11:30:00Z'), H)).toISOString()).to.equal('2026-06-15T13:30:00.000Z');
    expect(new Date(cal.add(at('2026-06-20T23:00:00Z'), 2 * H)).toISOString()).to.equal('2026-06-22T10:00:00.000Z'); // Sat 23-24, then Monday
  });

  it('add and between agree for many starts and durations', () => {
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    for (let i = 0; i < 300; i++) {
      const start = at('2026-01-01T00:00:00Z') + Math.floor(rnd() * 360 * 24 * H);
      const ms = Math.floor(rnd() * 60 * H);
      expect(berlin.between(start, berlin.add(start, ms)), `start ${new Date(start).toISOString()} + ${ms}`).to.equal(ms);
    }
  });

  describe('validation', () => {
    const bad = (v: unknown, text: string) => {
      let err: unknown;
      try {
        validateBusinessHours(v);
      } catch (e) {
        err = e;
      }
      expect(err, JSON.stringify(v)).to.be.instanceOf(ApiError);
      expect((err as ApiError).status).to.equal(400);
      expect((err as ApiError).code).to.equal('invalid_setting');
      expect((err as ApiError).message).to.contain(text);
    };
    const ok: BusinessHours = { timeZone: 'Europe/Berlin', weekly: { mon: [['09:00', '17:00']] } };

    it('accepts null (off) and a proper calendar', () => {
      expect(validateBusinessHours(null)).to.equal(null);
      expect(validateBusinessHours({ ...ok, holidays: ['2026-12-25'] })).to.deep.equal({ ...ok, holidays: ['2026-12-25'] });
    });

    it('refuses bad zones, days, times, overlaps, holidays and a week without hours', () => {
      bad('09-17', 'must be an object');
      bad({ ...ok, timeZone: 'Mars/Olympus' }, 'unknown time zone');
      bad({ ...ok, weekly: { monday: [['09:00', '17:00']] } }, 'unknown day monday');
      bad({ ...ok, weekly: { mon: [['9:00', '17:00']] } }, 'HH:MM');
      bad({ ...ok, weekly: { mon: [['17:00', '09:00']] } }, 'start must be before the end');
      bad({ ...ok, weekly: { mon: [['09:00', '13:00'], ['12:00', '17:00']] } }, 'overlap');
      bad({ ...ok, weekly: {} }, 'at least one interval');
      bad({ ...ok, holidays: ['2026-02-30'] }, 'not a "YYYY-MM-DD" date');
      bad({ ...ok, extra: 1 }, 'unknown key');
    });
  });
});

for (const backend of backends()) {
  describe(`business hours in SLA clocks (${backend === 'sqlite' ? 'SQLite' : 'MySQL + Redis'})`, function () {
    this.timeout(30_000);

    it('puts a ticket\'s first-response due in business time, and refuses a bad calendar without changing anything', async () => {
      const clock = new ManualClock(at('2026-03-27T15:00:00Z')); // Friday 16:00 in Berlin
      const t = await startGateway({ backend, bot: null, clock });
      try {
        const bh = { timeZone: 'Europe/Berlin', weekly: weekdays([['09:00', '17:00']]), holidays: ['2026-03-30'] };
        const put = await t.api('PUT', '/api/settings', { botChannels: [], businessHours: bh, sla: { medium: { firstResponse: '2h', resolution: '8h' } } });
        expect(put.status, JSON.stringify(put.body)).to.equal(200);
        expect(put.body.businessHours).to.deep.equal(bh);
        const refused = await t.api('PUT', '/api/settings', { businessHours: { timeZone: 'Nowhere/City', weekly: {} }, slaWarningPercent: 60 });
        expect(refused.status).to.equal(400);
        expect(refused.body.error.code).to.equal('invalid_setting');
        expect((await t.api('GET', '/api/settings')).body).to.deep.include({ businessHours: bh, slaWarningPercent: 75 });

        const phone = newPhone();
        await t.webhook(waTextBody({ from: phone, id: newWamid(), text: 'hello' }));
        const [row] = await waitFor(async () => {
          const ts = await ticketsOf(t, phone);
          return ts.length ? ts : null;
        }, 5000, 'the ticket');
        const tk = (await t.api('GET', `/api/tickets/${row.id}`)).body;
        // One hour on Friday, Monday 30 March is a holiday, one hour on Tuesday (CEST after the weekend).
        expect(tk.sla.firstResponseDueAt).to.equal('2026-03-31T08:00:00.000Z');
        // Friday evening and the weekend pass without the clock moving: still green on Tuesday 08:59.
        clock.set(at('2026-03-31T06:59:00Z'));
        expect((await t.api('GET', `/api/tickets/${row.id}`)).body.sla.state).to.equal('green');
        clock.set(at('2026-03-31T07:00:00Z')); // 09:00: one of two hours used (50 % < 75 %)
        expect((await t.api('GET', `/api/tickets/${row.id}`)).body.sla.state).to.equal('green');
        clock.set(at('2026-03-31T07:30:00Z')); // 75 %
        expect((await t.api('GET', `/api/tickets/${row.id}`)).body.sla.state).to.equal('yellow');
        clock.set(at('2026-03-31T08:00:00Z'));
        expect((await t.api('GET', `/api/tickets/${row.id}`)).body.sla.state).to.equal('red');
        await t.gw.tick();
        const list = await t.api('GET', `/api/tickets?sla=red&q=${row.id}`);
        expect(list.body.items.map((x: any) => x.id)).to.deep.equal([row.id]);
      } finally {
        await t.stop();
      }
    });
  });
}
