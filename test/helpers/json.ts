/** A response body as loosely typed JSON: tests check its shape with expect(). */
// biome-ignore lint/suspicious/noExplicitAny: answers are checked field by field with expect()
export type Json = any;

export async function jsonOf(res: Response): Promise<Json> {
  return res.json();
}
