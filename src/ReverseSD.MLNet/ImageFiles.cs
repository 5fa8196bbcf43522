namespace ReverseSD.MLNet;

/// <summary>The one list of image file extensions the library and the CLI read (folders, archives, target domains).</summary>
public static class ImageFiles
{
    /// <summary>The image file extensions, lower case with the dot.</summary>
    public static IReadOnlyList<string> Extensions { get; } = [".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif"];

    /// <summary>True when <paramref name="path"/> ends with one of the <see cref="Extensions"/> (any case).</summary>
    public static bool HasImageExtension(string path) => Extensions.Contains(Path.GetExtension(path).ToLowerInvariant());
}
