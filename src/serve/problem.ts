import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { LoupeError, isLoupeError, type ErrorCode } from '../errors/loupe-error.js';

/** An RFC 9457 problem details body: what every error response of the API is. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  instance: string;
  request_id: string;
}

const TITLES: Partial<Record<ErrorCode, string>> = {
  INVALID_ARGUMENT: 'Bad request',
  NOT_FOUND: 'Not found',
  TOO_LARGE: 'Too large',
  UNSUPPORTED_MEDIA: 'Unsupported media',
  UNAUTHORIZED: 'Unauthorized',
  FORBIDDEN: 'Forbidden',
  RATE_LIMITED: 'Too many requests',
  OVERLOADED: 'Server at capacity',
  NETWORK: 'Upstream fetch failed',
  CORRUPT_FILE: 'Unreadable input',
};

/** Fastify's own failures (parsing, limits, validation) as the codes the API speaks. */
function fromFastify(e: FastifyError): LoupeError {
  const status = e.statusCode ?? 500;
  if (e.validation) {
    if (e.validationContext !== 'body')
      return new LoupeError('INVALID_ARGUMENT', `invalid request: ${e.message}`);
    // A body matching none of the union's forms says only "body/ Invalid input": say what fits.
    const what = e.message.replace(/^body\/?\s*/, '');
    return new LoupeError(
      'INVALID_ARGUMENT',
      `invalid request body${what && what !== 'Invalid input' ? ` (${what})` : ''}: send JSON {"url": …}, {"image_base64": …} or {"instances": [ … ]}, a multipart/form-data upload, or the image bytes with an image/* content type`,
    );
  }
  if (
    e.code === 'FST_ERR_CTP_BODY_TOO_LARGE' ||
    e.code === 'FST_REQ_FILE_TOO_LARGE' ||
    e.code === 'FST_FILES_LIMIT' ||
    status === 413
  )
    return new LoupeError(
      'TOO_LARGE',
      e.code === 'FST_FILES_LIMIT'
        ? 'too many files in one request'
        : 'the request body is larger than the server accepts',
    );
  if (e.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' || status === 415)
    return new LoupeError(
      'UNSUPPORTED_MEDIA',
      'send multipart/form-data with an image file, JSON with "url" or "image_base64", or the image bytes with an image/* content type',
    );
  if (status === 429) return new LoupeError('RATE_LIMITED', e.message);
  if (status >= 400 && status < 500) return new LoupeError('INVALID_ARGUMENT', e.message);
  return new LoupeError('INTERNAL', 'the server failed to handle the request');
}

export function problemOf(e: unknown, request: FastifyRequest): Problem {
  const error = isLoupeError(e) ? e : fromFastify(e as FastifyError);
  return {
    type: `https://loupe.dev/problems/${error.code.toLowerCase().replaceAll('_', '-')}`,
    title: TITLES[error.code] ?? (error.httpStatus >= 500 ? 'Server error' : 'Bad request'),
    status: error.httpStatus,
    detail: error.message,
    code: error.code,
    instance: request.url,
    request_id: String(request.id),
  };
}

export function sendProblem(reply: FastifyReply, problem: Problem): FastifyReply {
  // The rate limiter sets the seconds until its window resets; "1" would send clients back too soon.
  if ((problem.status === 503 || problem.status === 429) && !reply.hasHeader('retry-after'))
    void reply.header('retry-after', '1');
  return reply.code(problem.status).type('application/problem+json').send(problem);
}

/** Every error, thrown anywhere, leaves as application/problem+json with a clear message. */
export function installProblemHandlers(app: FastifyInstance): void {
  app.setErrorHandler((e, request, reply) => {
    const problem = problemOf(e, request);
    if (problem.status >= 500 && problem.code !== 'OVERLOADED')
      request.log.error({ err: e }, 'request failed');
    else request.log.info({ code: problem.code, detail: problem.detail }, 'request refused');
    return sendProblem(reply, problem);
  });
  app.setNotFoundHandler((request, reply) =>
    sendProblem(
      reply,
      problemOf(
        new LoupeError('NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`),
        request,
      ),
    ),
  );
}
