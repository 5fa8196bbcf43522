using System.Globalization;
using System.Text.Json;
using ReverseSD.MLNet.Data;

namespace ReverseSD.MLNet.Composer;

/// <summary>One target embedding read from a file, with the id of its record (its prompt, image or row number).</summary>
public sealed record TargetEmbedding(string Id, float[] Embedding);

/// <summary>
/// Reads target embeddings: JSON lines or a JSON array of objects with an "embedding" array (as <c>embed-text</c> and
/// <c>predict</c> write them; the id is the record's "image", "id" or "prompt"), or CSV with columns e0..e(d-1) (the id is
/// the "image", "id" or "prompt" column, else the row number).
/// </summary>
public static class TargetEmbeddingsFile
{
    private static readonly string[] IdFields = ["image", "id", "prompt"];

    /// <summary>Reads every record; a missing file, a record without an embedding or of another width than <paramref name="dimension"/> is a <see cref="ReverseSdInputException"/>.</summary>
    public static IReadOnlyList<TargetEmbedding> Read(string path, int dimension)
    {
        if (!File.Exists(path))
            throw new ReverseSdInputException($"Embeddings file '{path}' does not exist: write one with 'reversesd embed-text' or 'reversesd predict'.");
        var result = Path.GetExtension(path).Equals(".csv", StringComparison.OrdinalIgnoreCase) ? ReadCsv(path) : ReadJson(path);
        if (result.Count == 0) throw new ReverseSdInputException($"Embeddings file '{path}' holds no embedding.");
        for (int i = 0; i < result.Count; i++)
            if (result[i].Embedding.Length != dimension)
                throw new ReverseSdInputException(
                    $"Record {i + 1} of '{path}' has a {result[i].Embedding.Length}-d embedding; the prompt bank holds {dimension}-d all-MiniLM-L6-v2 vectors.");
        return result;
    }

    private static List<TargetEmbedding> ReadCsv(string path)
    {
        var (header, rows) = CsvTable.Read(path);
        var columns = new List<int>();
        for (int d = 0; ; d++)
        {
            int c = CsvTable.IndexOf(header, "e" + d.ToString(CultureInfo.InvariantCulture));
            if (c < 0) break;
            columns.Add(c);
        }
        if (columns.Count == 0)
            throw new ReverseSdInputException($"CSV file '{path}' has no e0, e1, ... columns: write it with 'reversesd embed-text --out FILE.csv'.");
        int id = IdFields.Select(f => CsvTable.IndexOf(header, f)).FirstOrDefault(i => i >= 0, -1);
        return rows.Select((r, i) => new TargetEmbedding(id >= 0 ? r[id] : (i + 1).ToString(CultureInfo.InvariantCulture),
            columns.Select(c => float.TryParse(r[c], NumberStyles.Float, CultureInfo.InvariantCulture, out float v) ? v
                : throw new ReverseSdInputException($"Row {i + 1} of '{path}': '{r[c]}' in column {header[c]} is not a number.")).ToArray())).ToList();
    }

    private static List<TargetEmbedding> ReadJson(string path)
    {
        string text = File.ReadAllText(path).Trim();
        var records = new List<JsonElement>();
        var documents = new List<JsonDocument>();
        try
        {
            if (text.StartsWith('['))
            {
                var doc = JsonDocument.Parse(text);
                documents.Add(doc);
                records.AddRange(doc.RootElement.EnumerateArray());
            }
            else
            {
                foreach (var line in text.Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0))
                {
                    var doc = JsonDocument.Parse(line);
                    documents.Add(doc);
                    records.Add(doc.RootElement);
                }
            }
            var result = new List<TargetEmbedding>(records.Count);
            for (int i = 0; i < records.Count; i++)
            {
                var r = records[i];
                if (r.ValueKind != JsonValueKind.Object || !r.TryGetProperty("embedding", out var e) || e.ValueKind != JsonValueKind.Array)
                    throw new ReverseSdInputException($"Record {i + 1} of '{path}' has no \"embedding\" array.");
                string id = IdFields.Select(f => r.TryGetProperty(f, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null)
                    .FirstOrDefault(v => v != null) ?? (i + 1).ToString(CultureInfo.InvariantCulture);
                result.Add(new TargetEmbedding(id, e.EnumerateArray().Select(x => x.GetSingle()).ToArray()));
            }
            return result;
        }
        catch (JsonException ex)
        {
            throw new ReverseSdInputException($"'{path}' is not JSON lines or a JSON array of records with an \"embedding\" ({ex.Message}).", ex);
        }
        catch (FormatException ex)
        {
            throw new ReverseSdInputException($"'{path}' has a non-numeric embedding value ({ex.Message}).", ex);
        }
        finally
        {
            foreach (var d in documents) d.Dispose();
        }
    }
}
