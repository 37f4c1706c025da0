// Contact names come from the platforms (WhatsApp profile names, Instagram usernames, email
// display names) and so from whoever writes the webhook or the mail: a name is stored in
// contacts.name (VARCHAR(255); MySQL refuses longer values, failing the whole message), so
// every adapter bounds it here.

export const MAX_CONTACT_NAME = 255;

/** The name cut to 255 characters (code points: a cut never splits an emoji); undefined when empty. */
export function boundedName(name: string | undefined | null): string | undefined {
  const trimmed = name?.trim();
  if (!trimmed) return undefined;
  const chars = Array.from(trimmed);
  return chars.length > MAX_CONTACT_NAME ? chars.slice(0, MAX_CONTACT_NAME).join('').trimEnd() : trimmed;
}
