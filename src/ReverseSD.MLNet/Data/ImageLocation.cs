using System.IO.Compression;

namespace ReverseSD.MLNet.Data;

/// <summary>Where an image lives: a file on disk, or an entry of a zip archive (read without unpacking).</summary>
/// <param name="Path">The image file, or the zip archive that holds it.</param>
/// <param name="ArchiveEntry">Full name of the entry inside the archive, or null for a plain file.</param>
public sealed record ImageLocation(string Path, string? ArchiveEntry = null)
{
    /// <summary>The image's file name (e.g. <c>&lt;uuid&gt;.png</c>).</summary>
    public string FileName => System.IO.Path.GetFileName(ArchiveEntry ?? Path);

    /// <summary>Opens the image bytes for reading; the caller disposes the stream.</summary>
    public Stream Open()
    {
        if (ArchiveEntry == null) return File.OpenRead(Path);
        var archive = ZipFile.OpenRead(Path);
        var entry = archive.GetEntry(ArchiveEntry);
        if (entry == null)
        {
            archive.Dispose();
            throw new FileNotFoundException($"'{ArchiveEntry}' is not in '{Path}'.");
        }
        var buffer = new MemoryStream();
        using (var s = entry.Open()) s.CopyTo(buffer);
        archive.Dispose();
        buffer.Position = 0;
        return buffer;
    }
}
