/** Instagram-scoped ids (IGSID) and account ids are numeric strings. */
export function isValidIgsid(id: string): boolean {
  return /^[0-9]{1,30}$/.test(id);
}
