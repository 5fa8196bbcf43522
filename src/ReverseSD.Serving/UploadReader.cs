using System.Globalization;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using ReverseSD.MLNet;
using ReverseSD.MLNet.Backbones;

namespace ReverseSD.Serving;

/// <summary>Reads the images of a request (multipart form or a raw image body) within the upload limit, or says what is wrong.</summary>
internal static class UploadReader
{
    /// <summary>The raw-body content types accepted.</summary>
    public static readonly string[] ImageContentTypes = ["image/png", "image/jpeg", "image/webp"];

    /// <summary>The images of the request, or a problem (400 / 413) to return.</summary>
    public static async Task<(IReadOnlyList<UploadedImage> Images, ProblemHttpResult? Problem)> ReadAsync(
        HttpRequest request, ServeOptions options, bool batch, CancellationToken cancellationToken)
    {
        if (request.ContentLength > options.MaxUploadBytes) return ([], TooLarge(options));
        try
        {
            if (request.HasFormContentType)
                return await ReadFormAsync(request, options, batch, cancellationToken);
            string? mediaType = request.ContentType?.Split(';')[0].Trim().ToLowerInvariant();
            if (!batch && mediaType != null && ImageContentTypes.Contains(mediaType))
            {
                var bytes = await ReadBodyAsync(request.Body, options.MaxUploadBytes, cancellationToken);
                if (bytes == null) return ([], TooLarge(options));
                return ([new UploadedImage("image", bytes)], null);
            }
            string expected = batch
                ? "multipart/form-data with one file per image"
                : "multipart/form-data with the image in the field 'image', or a raw image/png or image/jpeg body";
            return ([], Problems.BadRequest(Problems.WrongContentType, "Wrong content type",
                $"The request's Content-Type is '{request.ContentType ?? "(none)"}'; send {expected}."));
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return ([], TooLarge(options));
        }
        catch (InvalidDataException e) when (e.Message.Contains("limit", StringComparison.OrdinalIgnoreCase))
        {
            return ([], TooLarge(options));
        }
        catch (Exception e) when (e is InvalidDataException or BadHttpRequestException or IOException)
        {
            return ([], Problems.BadRequest(Problems.MalformedRequest, "Malformed request body", $"The request body could not be read: {e.Message}"));
        }
    }

    /// <summary>The first problem of one image's bytes as a 400 problem, or null when its header is sound.</summary>
    public static ProblemHttpResult? Check(UploadedImage image)
    {
        if (ImageValidation.FindProblem(image.Bytes) is not { } problem) return null;
        return Problems.BadRequest(problem.Kind switch
        {
            ImageProblemKind.Empty => Problems.EmptyImage,
            ImageProblemKind.TooManyPixels => Problems.TooManyPixels,
            ImageProblemKind.Corrupt => Problems.CorruptImage,
            _ => Problems.NotAnImage,
        }, "Unusable image", $"'{image.Name}': {problem.Message}.");
    }

    private static async Task<(IReadOnlyList<UploadedImage>, ProblemHttpResult?)> ReadFormAsync(
        HttpRequest request, ServeOptions options, bool batch, CancellationToken cancellationToken)
    {
        if (!request.ContentType!.StartsWith("multipart/form-data", StringComparison.OrdinalIgnoreCase))
            return ([], Problems.BadRequest(Problems.WrongContentType, "Wrong content type",
                $"The request's Content-Type is '{request.ContentType}'; a form must be multipart/form-data carrying image files."));
        var form = await request.ReadFormAsync(cancellationToken);
        var files = batch ? form.Files.ToList() : form.Files.GetFiles("image").Take(1).ToList();
        if (files.Count == 0)
            return ([], Problems.BadRequest(Problems.NoImage, "No image",
                batch ? "The form carries no file: add one file part per image." : "The form has no file in the field 'image'."));
        if (files.Count > options.MaxBatchImages)
            return ([], Problems.BadRequest(Problems.TooManyImages, "Too many images",
                $"The batch carries {files.Count} images; the limit is {options.MaxBatchImages} per request."));
        var images = new List<UploadedImage>(files.Count);
        foreach (var file in files)
        {
            await using var stream = file.OpenReadStream();
            var bytes = await ReadBodyAsync(stream, options.MaxUploadBytes, cancellationToken);
            if (bytes == null) return ([], TooLarge(options));
            images.Add(new UploadedImage(string.IsNullOrWhiteSpace(file.FileName) ? file.Name : Path.GetFileName(file.FileName), bytes));
        }
        return (images, null);
    }

    /// <summary>Reads at most <paramref name="limit"/> bytes; null when the stream holds more.</summary>
    private static async Task<byte[]?> ReadBodyAsync(Stream body, long limit, CancellationToken cancellationToken)
    {
        using var buffer = new MemoryStream();
        var chunk = new byte[81920];
        int read;
        while ((read = await body.ReadAsync(chunk, cancellationToken)) > 0)
        {
            if (buffer.Length + read > limit) return null;
            buffer.Write(chunk, 0, read);
        }
        return buffer.ToArray();
    }

    private static ProblemHttpResult TooLarge(ServeOptions options) => TypedResults.Problem(
        string.Create(CultureInfo.InvariantCulture, $"The upload is over the limit of {options.MaxUploadBytes:N0} bytes (--max-upload-mb)."),
        statusCode: StatusCodes.Status413PayloadTooLarge, title: "Upload too large", type: Problems.UploadTooLarge);
}
