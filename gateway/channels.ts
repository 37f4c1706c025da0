// Which transport sends for a (channel, account): the configured platform adapters,
// plus the simulator's (account "simulator") outside production.

import type { Channel, ChannelAdapter } from '../adapters/types.js';

export class ChannelRegistry {
  private readonly byKey = new Map<string, ChannelAdapter>();
  private readonly byChannel = new Map<Channel, ChannelAdapter>();

  register(adapter: ChannelAdapter, account: string): void {
    this.byKey.set(`${adapter.channel}|${account}`, adapter);
    if (account !== SIMULATOR_ACCOUNT && !this.byChannel.has(adapter.channel)) this.byChannel.set(adapter.channel, adapter);
  }

  /** The adapter for exactly this account, else the channel's configured one (a renamed account keeps working). */
  get(channel: Channel, account: string): ChannelAdapter | undefined {
    return this.byKey.get(`${channel}|${account}`) ?? (account === SIMULATOR_ACCOUNT ? undefined : this.byChannel.get(channel));
  }

  list(): { channel: Channel; account: string; adapter: ChannelAdapter }[] {
    return [...this.byKey.entries()].map(([key, adapter]) => {
      const [channel, account] = key.split('|') as [Channel, string];
      return { channel, account, adapter };
    });
  }
}

export const SIMULATOR_ACCOUNT = 'simulator';
