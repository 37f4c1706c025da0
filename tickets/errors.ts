// Errors the API turns into {"error": {"code", "message"}} with their HTTP status (SPEC §4).

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export const badRequest = (message: string, code = 'bad_request') => new ApiError(400, code, message);
export const notFound = (what: string) => new ApiError(404, 'not_found', `${what} not found`);
export const conflict = (message: string, code = 'conflict', details?: Record<string, unknown>) => new ApiError(409, code, message, details);
export const forbidden = (message: string) => new ApiError(403, 'forbidden', message);
export const unprocessable = (code: string, message: string) => new ApiError(422, code, message);
