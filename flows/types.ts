// The flow file format (flows/*.yaml), as authored by bot designers.
// The JSON Schema in flow.schema.json is the published form of these types.

/** A node id of this flow, or a special target: `@agent` (hand off to a human), `@menu` (restart at the welcome menu), `@end` (end this flow). */
export type Target = string;

export interface FlowMessages {
  /** Sent when the conversation is handed to agents (unless an escalating end has its own text). */
  handoff?: string;
  /** Sent when a turn fails (bot error); the conversation is handed to agents. */
  botError?: string;
  /** Default retry prompt prefix when an input is not understood. */
  notUnderstood?: string;
  /** Sent when the customer taps an option of a menu that is no longer active. */
  staleChoice?: string;
}

export interface ChoiceDef {
  id: string;
  title: string;
  description?: string;
  /** Extra phrases that select this option when typed. */
  match?: string[];
  /** Value saved in the question's variable when chosen (default: the option id). */
  value?: string | number | boolean | null;
  next: Target;
}

export type InputType = 'text' | 'number' | 'email' | 'phone' | 'regex' | 'faq';

export interface InputDef {
  type: InputType;
  pattern?: string;
  flags?: string;
  min?: number;
  max?: number;
  minLength?: number;
  maxLength?: number;
}

export interface RetryDef {
  prompt?: string;
  /** Attempts before the failure exit (or, without one, the fallback handoff). */
  limit?: number;
  failure?: Target;
}

export type Condition =
  | { var: string; op: 'eq' | 'ne' | 'gt' | 'gte' | 'lt' | 'lte' | 'in' | 'contains' | 'matches' | 'exists' | 'empty'; value?: unknown }
  | { all: Condition[] }
  | { any: Condition[] }
  | { not: Condition };

interface NodeBase {
  id: string;
  /** Designer notes; ignored by the runtime. */
  note?: string;
}

export interface MessageNode extends NodeBase {
  type: 'message';
  text: string;
  next?: Target;
}

export interface QuestionNode extends NodeBase {
  type: 'question';
  text: string;
  choices?: ChoiceDef[];
  /** Label of the button that opens a list (WhatsApp lists). */
  buttonLabel?: string;
  input?: InputDef;
  /** Variable receiving the chosen option id or the validated input. */
  save?: string;
  /** Where typed input goes (choices have their own `next`). */
  next?: Target;
  retry?: RetryDef;
}

export interface ConditionNode extends NodeBase {
  type: 'condition';
  branches: { when: Condition; next: Target }[];
  else: Target;
}

export interface SetNode extends NodeBase {
  type: 'set';
  set: Record<string, unknown>;
  next?: Target;
}

export interface HttpNode extends NodeBase {
  type: 'http';
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  url: string;
  headers?: Record<string, string>;
  body?: unknown;
  /** Milliseconds; default 5000. */
  timeout?: number;
  /** Variable receiving `{status, ok, body}`. */
  save?: string;
  success: Target;
  /** Non-2xx, network error or timeout. Without it, a failure is a bot error (handoff). */
  failure?: Target;
  /** Exits for specific HTTP statuses, e.g. `404: not_found`. */
  on?: Record<string, Target>;
}

export interface JumpNode extends NodeBase {
  type: 'jump';
  flow?: string;
  node?: string;
}

export interface CallNode extends NodeBase {
  type: 'call';
  flow: string;
  node?: string;
  next?: Target;
}

export interface EndNode extends NodeBase {
  type: 'end';
  text?: string;
  escalate?: boolean;
  reason?: string;
  team?: string;
  priority?: 'low' | 'medium' | 'high' | 'urgent';
  /** The customer's request was completed by the bot (signal `resolved`). */
  resolved?: boolean;
  /** Emits a `rating` signal (templated values). */
  rating?: { score: string; comment?: string };
}

export type FlowNode = MessageNode | QuestionNode | ConditionNode | SetNode | HttpNode | JumpNode | CallNode | EndNode;

export interface FaqEntry {
  id: string;
  question: string;
  answer: string;
  alternatives?: string[];
}

export interface FlowDef {
  flow: string;
  description?: string;
  start: string;
  /** Phrases that start this flow when they are the customer's first message (fuzzy). */
  triggers?: string[];
  messages?: FlowMessages;
  faq?: {
    entries: FaqEntry[];
    /** Node that shows an answer; a first message matching an entry starts here. */
    answerNode: string;
    /** Variable receiving the matched entry `{id, question, answer}`; default `faq`. */
    save?: string;
  };
  nodes: FlowNode[];
}

export interface FlowProblem {
  file: string;
  line?: number;
  column?: number;
  message: string;
  severity: 'error' | 'warning';
}

export interface FlowSummary {
  name: string;
  file: string;
  hash: string;
  description?: string;
  nodes: number;
  triggers: string[];
  loadedAt: number;
}
