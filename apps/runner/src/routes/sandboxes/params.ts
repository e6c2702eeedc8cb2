import { Type } from '@sinclair/typebox';

export const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 128 }) });
export type IdParams = { id: string };
