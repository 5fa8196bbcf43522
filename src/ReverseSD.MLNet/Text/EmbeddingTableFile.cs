using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using ReverseSD.MLNet.Data;

namespace ReverseSD.MLNet.Text;

/// <summary>File format of a table of prompt embeddings.</summary>
internal enum EmbeddingFileFormat
{
    /// <summary>CSV with header <c>prompt,e0..e383</c>, one row per prompt.</summary>
    Csv = 0,

    /// <summary>JSON lines: <c>{"prompt":...,"embedding":[...]}</c> per prompt.</summary>
    Jsonl = 1,
}

/// <summary>Writes prompts with their embeddings (invariant culture, round-trip floats), atomically.</summary>
internal static class EmbeddingTableFile
{
    /// <summary>The format implied by <paramref name="path"/>'s extension: .jsonl/.json are JSON lines, anything else CSV.</summary>
    public static EmbeddingFileFormat FormatOf(string path) =>
        Path.GetExtension(path).ToLowerInvariant() is ".jsonl" or ".json" ? EmbeddingFileFormat.Jsonl : EmbeddingFileFormat.Csv;

    /// <summary>Writes one record per prompt to <paramref name="path"/> through a temporary file.</summary>
    public static void Write(string path, IReadOnlyList<string> prompts, IReadOnlyList<float[]> embeddings, EmbeddingFileFormat format)
    {
        ArgumentOutOfRangeException.ThrowIfNotEqual(embeddings.Count, prompts.Count);
        if (format == EmbeddingFileFormat.Csv)
        {
            int dimension = embeddings.Count > 0 ? embeddings[0].Length : SentenceEncoder.Dimension;
            var header = new List<string> { "prompt" };
            header.AddRange(Enumerable.Range(0, dimension).Select(d => "e" + d.ToString(CultureInfo.InvariantCulture)));
            CsvTable.Write(path, header, prompts.Select((p, i) =>
                (IReadOnlyList<string>)[p, .. embeddings[i].Select(v => v.ToString("R", CultureInfo.InvariantCulture))]));
            return;
        }

        AtomicFile.Write(path, stream =>
        {
            var options = new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
            var newline = "\n"u8.ToArray();
            for (int i = 0; i < prompts.Count; i++)
            {
                using (var json = new Utf8JsonWriter(stream, options))
                {
                    json.WriteStartObject();
                    json.WriteString("prompt", prompts[i]);
                    json.WriteStartArray("embedding");
                    foreach (float v in embeddings[i]) json.WriteNumberValue(v);
                    json.WriteEndArray();
                    json.WriteEndObject();
                }
                stream.Write(newline);
            }
        });
    }
}
