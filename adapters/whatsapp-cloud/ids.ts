// WhatsApp sender identities: a phone number (wa_id) or, since 2026, a business-scoped user id.

/** wa_id: the phone number in international form, digits only. */
export function isValidWaId(id: string): boolean {
  return /^[0-9]{1,20}$/.test(id);
}

/**
 * Business-scoped user id (BSUID): an ISO 3166 alpha-2 country code, a period and up to
 * 128 alphanumerics, e.g. `US.13491208655302741918`. Parent BSUIDs (`US.ENT.…`) are
 * shared across portfolios and are not used as a sender identity.
 */
export function isValidBsuid(id: string): boolean {
  return /^[A-Z]{2}\.[A-Za-z0-9]{1,128}$/.test(id);
}

export function isValidSenderId(id: string): boolean {
  return isValidWaId(id) || isValidBsuid(id);
}
