using System.Text;
using System.Text.Json;
using Parquet;
using Parquet.Schema;
using ReverseSD.MLNet.Data;

namespace ReverseSD.MLNet.Retrieval;

/// <summary>
/// Reads prompts from the inputs of a prompt bank: plain text (one prompt per line), CSV (a named column), data set folders
/// (<c>metadata.csv</c> at the top or in train/validation/test), DiffusionDB part json files and <c>metadata.parquet</c>
/// (its prompt column); a folder without metadata.csv is searched for part json and parquet files. Prompts are yielded
/// raw (not trimmed), in file order; files are read one at a time.
/// </summary>
internal static class PromptSources
{
    /// <summary>The files an input expands to, in a fixed order; a missing input is a <see cref="ReverseSdInputException"/>.</summary>
    public static List<string> Expand(IEnumerable<string> inputs)
    {
        var files = new List<string>();
        foreach (string input in inputs)
        {
            if (File.Exists(input))
            {
                files.Add(Path.GetFullPath(input));
                continue;
            }
            if (!Directory.Exists(input))
                throw new ReverseSdInputException($"Prompt source '{input}' does not exist: give text/CSV files, data set folders, DiffusionDB part json or metadata.parquet files.");
            var metadata = new[] { "" }.Concat(ImageFolderDataset.Splits)
                .Select(s => Path.Combine(input, s, ImageFolderDataset.MetadataFileName)).Where(File.Exists).Select(Path.GetFullPath).ToList();
            if (metadata.Count > 0)
            {
                files.AddRange(metadata);
                continue;
            }
            var found = Directory.EnumerateFiles(input, "*", SearchOption.AllDirectories)
                .Where(f => Path.GetExtension(f).ToLowerInvariant() is ".json" or ".parquet")
                .Select(Path.GetFullPath).Order(StringComparer.Ordinal).ToList();
            if (found.Count == 0)
                throw new ReverseSdInputException($"Folder '{input}' has no metadata.csv, part-*.json or .parquet file: give a data set folder or a DiffusionDB download.");
            files.AddRange(found);
        }
        if (files.Count == 0) throw new ReverseSdInputException("No prompt source given: pass --input PATH.");
        return files;
    }

    /// <summary>The prompts of one file; <paramref name="column"/> names the CSV column (metadata.csv always uses "prompt").</summary>
    public static IEnumerable<string> Read(string file, string column, CancellationToken cancellationToken = default)
    {
        string ext = Path.GetExtension(file).ToLowerInvariant();
        return ext switch
        {
            ".csv" => ReadCsv(file, Path.GetFileName(file) == ImageFolderDataset.MetadataFileName ? "prompt" : column),
            ".json" => ReadPartJson(file),
            ".parquet" => ReadParquet(file, cancellationToken),
            _ => File.ReadLines(file, Encoding.UTF8),
        };
    }

    private static IEnumerable<string> ReadCsv(string file, string column)
    {
        var (header, rows) = CsvTable.Read(file);
        int index = CsvTable.IndexOf(header, column);
        if (index < 0)
            throw new ReverseSdInputException($"Column '{column}' not found in '{file}' (columns: {string.Join(", ", header)}): choose one with --column.");
        foreach (var row in rows) yield return row[index];
    }

    private static IEnumerable<string> ReadPartJson(string file)
    {
        JsonDocument document;
        try
        {
            using var stream = File.OpenRead(file);
            document = JsonDocument.Parse(stream);
        }
        catch (JsonException e)
        {
            throw new ReverseSdInputException($"'{file}' is not a DiffusionDB part json file ({e.Message}): give part-XXXXXX.json files.", e);
        }
        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
                throw new ReverseSdInputException($"'{file}' is not a DiffusionDB part json file (an object of image name → {{\"p\": prompt, ...}} is expected).");
            foreach (var entry in document.RootElement.EnumerateObject())
                if (entry.Value.ValueKind == JsonValueKind.Object && entry.Value.TryGetProperty("p", out var p) && p.ValueKind == JsonValueKind.String)
                    yield return p.GetString()!;
        }
    }

    private static IEnumerable<string> ReadParquet(string file, CancellationToken cancellationToken)
    {
        ParquetReader reader;
        try
        {
            reader = ParquetReader.CreateAsync(file, cancellationToken: cancellationToken).GetAwaiter().GetResult();
        }
        catch (Exception e) when (e is IOException or InvalidDataException or NotSupportedException or ArgumentException or InvalidOperationException)
        {
            throw new ReverseSdInputException($"'{file}' is not a readable parquet file ({e.Message}).", e);
        }
        try
        {
            var field = reader.Schema.GetDataFields().FirstOrDefault(f => string.Equals(f.Name, "prompt", StringComparison.OrdinalIgnoreCase))
                ?? throw new ReverseSdInputException($"Parquet file '{file}' has no 'prompt' column (columns: {string.Join(", ", reader.Schema.GetDataFields().Select(f => f.Name))}).");
            for (int g = 0; g < reader.RowGroupCount; g++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                string?[] values = ReadGroup(reader, g, field);
                foreach (var v in values)
                    if (v != null) yield return v;
            }
        }
        finally
        {
            reader.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
    }

    private static string?[] ReadGroup(ParquetReader reader, int g, DataField field)
    {
        using var group = reader.OpenRowGroupReader(g);
        var values = new string?[checked((int)group.RowCount)];
        group.ReadAsync(field, values.AsMemory()!, null).GetAwaiter().GetResult();
        return values;
    }
}
