import { DynamicsError } from './DynamicsError';

/**
 * A file or image the service refused for what it is: too large for the column's `MaxSizeInKB`
 * (`0x80044a02`, "Attachment file size is too big.", https://learn.microsoft.com/power-apps/developer/data-platform/file-column-data)
 * or an image it cannot process (`0x80072553`, not gif/jpeg/tiff/bmp/png or over 30 MB,
 * https://learn.microsoft.com/power-apps/developer/data-platform/image-column-data). `code` is the
 * service's hex code; `reason` says which in words. Re-sending the same bytes cannot succeed.
 */
export class FileColumnError extends DynamicsError {
  override name = 'FileColumnError';
  /** `'file_too_large'` or `'unsupported_image'`. */
  reason: 'file_too_large' | 'unsupported_image' = 'file_too_large';
}
