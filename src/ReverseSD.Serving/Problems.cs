using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;

namespace ReverseSD.Serving;

/// <summary>The API's error types (RFC 9457 problem details, one stable <c>type</c> per error).</summary>
public static class Problems
{
    /// <summary>The body is not multipart/form-data or a raw PNG/JPEG image.</summary>
    public const string WrongContentType = "urn:reversesd:problem:wrong-content-type";

    /// <summary>The request body could not be parsed (a broken multipart body).</summary>
    public const string MalformedRequest = "urn:reversesd:problem:malformed-request";

    /// <summary>The form carries no image file.</summary>
    public const string NoImage = "urn:reversesd:problem:no-image";

    /// <summary>The image has no bytes.</summary>
    public const string EmptyImage = "urn:reversesd:problem:empty-image";

    /// <summary>The bytes are not an image (PNG, JPEG, WebP, BMP or GIF).</summary>
    public const string NotAnImage = "urn:reversesd:problem:not-an-image";

    /// <summary>The image is truncated or corrupt, or does not decode.</summary>
    public const string CorruptImage = "urn:reversesd:problem:corrupt-image";

    /// <summary>The image header declares more pixels than the limit (a decompression bomb).</summary>
    public const string TooManyPixels = "urn:reversesd:problem:too-many-pixels";

    /// <summary>A batch carries more images than the limit.</summary>
    public const string TooManyImages = "urn:reversesd:problem:too-many-images";

    /// <summary>The upload is larger than the size limit (413).</summary>
    public const string UploadTooLarge = "urn:reversesd:problem:upload-too-large";

    /// <summary>Every scorer is busy and the wait queue is full (503 with Retry-After).</summary>
    public const string Busy = "urn:reversesd:problem:busy";

    /// <summary>An unexpected server fault (500); the bug is logged.</summary>
    public const string ServerFault = "urn:reversesd:problem:server-fault";

    internal static ProblemHttpResult BadRequest(string type, string title, string detail) =>
        TypedResults.Problem(detail, statusCode: StatusCodes.Status400BadRequest, title: title, type: type);
}
