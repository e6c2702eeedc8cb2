/** An S3 error: rendered as the S3 XML error body with its HTTP status (clients switch on `code`). */
export class S3Error extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'S3Error';
  }
}

/** The one catalogue of errors the object server answers with; codes and statuses are S3's. */
export const S3Errors = {
  accessDenied: (why = 'Access Denied') => new S3Error(403, 'AccessDenied', why),
  expiredToken: () => new S3Error(403, 'AccessDenied', 'The provided token has expired.'),
  invalidAccessKeyId: () => new S3Error(403, 'InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.'),
  signatureDoesNotMatch: () =>
    new S3Error(403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided. Check your key and signing method.'),
  authorizationHeaderMalformed: (why: string) => new S3Error(400, 'AuthorizationHeaderMalformed', why),
  missingSecurityHeader: () => new S3Error(400, 'MissingSecurityHeader', 'Your request was missing a required header (x-amz-date or x-amz-content-sha256).'),
  requestTimeTooSkewed: () => new S3Error(403, 'RequestTimeTooSkewed', 'The difference between the request time and the current time is too large.'),
  requestExpired: () => new S3Error(403, 'AccessDenied', 'Request has expired'),
  contentSha256Mismatch: () => new S3Error(400, 'XAmzContentSHA256Mismatch', 'The provided x-amz-content-sha256 header does not match what was computed.'),
  badDigest: (what: string) => new S3Error(400, 'BadDigest', `The ${what} you specified did not match the calculated checksum.`),
  incompleteBody: () => new S3Error(400, 'IncompleteBody', 'You did not provide the number of bytes specified by the Content-Length HTTP header.'),
  entityTooLarge: (max: number) => new S3Error(400, 'EntityTooLarge', `Your proposed upload exceeds the maximum allowed size (${max} bytes).`),
  entityTooSmall: () => new S3Error(400, 'EntityTooSmall', 'Your proposed upload is smaller than the minimum allowed object size.'),
  missingContentLength: () => new S3Error(411, 'MissingContentLength', 'You must provide the Content-Length HTTP header.'),
  invalidArgument: (why: string) => new S3Error(400, 'InvalidArgument', why),
  invalidRequest: (why: string) => new S3Error(400, 'InvalidRequest', why),
  malformedXml: () => new S3Error(400, 'MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema.'),
  invalidBucketName: () => new S3Error(400, 'InvalidBucketName', 'The specified bucket is not valid.'),
  keyTooLong: () => new S3Error(400, 'KeyTooLongError', 'Your key is too long.'),
  invalidKey: (why: string) => new S3Error(400, 'InvalidArgument', `Invalid object key: ${why}`),
  noSuchBucket: () => new S3Error(404, 'NoSuchBucket', 'The specified bucket does not exist'),
  noSuchKey: () => new S3Error(404, 'NoSuchKey', 'The specified key does not exist.'),
  noSuchUpload: () => new S3Error(404, 'NoSuchUpload', 'The specified multipart upload does not exist.'),
  invalidPart: () => new S3Error(400, 'InvalidPart', 'One or more of the specified parts could not be found.'),
  invalidPartOrder: () => new S3Error(400, 'InvalidPartOrder', 'The list of parts was not in ascending order.'),
  invalidRange: () => new S3Error(416, 'InvalidRange', 'The requested range is not satisfiable'),
  bucketAlreadyOwnedByYou: () => new S3Error(409, 'BucketAlreadyOwnedByYou', 'Your previous request to create the named bucket succeeded and you already own it.'),
  bucketNotEmpty: () => new S3Error(409, 'BucketNotEmpty', 'The bucket you tried to delete is not empty'),
  methodNotAllowed: () => new S3Error(405, 'MethodNotAllowed', 'The specified method is not allowed against this resource.'),
  notImplemented: (what: string) => new S3Error(501, 'NotImplemented', `${what} is not implemented by Shoal's object storage.`),
  internal: () => new S3Error(500, 'InternalError', 'We encountered an internal error. Please try again.'),
} as const;
