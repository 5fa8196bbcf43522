using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using ReverseSD.MLNet;
using ReverseSD.MLNet.Pipeline;

namespace ReverseSD.Cli.Commands;

/// <summary>
/// What makes `predict --out FILE` resumable: each finished chunk of results is kept in FILE.partial/ (one file per
/// chunk, written atomically), keyed by the model file, the image list and the options. A run started again with the
/// same arguments replays the finished chunks and continues after the last one, so the output is the same as an
/// uninterrupted run's; the folder is removed once FILE is in place.
/// </summary>
internal sealed class PredictionJournal
{
    private const int FormatVersion = 1;
    private readonly string _folder;

    private PredictionJournal(string folder, int chunkSize)
    {
        _folder = folder;
        ChunkSize = chunkSize;
    }

    /// <summary>Images per chunk.</summary>
    public int ChunkSize { get; }

    /// <summary>
    /// Opens the journal of <paramref name="outPath"/>; a journal left by a run with other arguments (or another model
    /// file) is discarded.
    /// </summary>
    public static PredictionJournal Open(string outPath, string modelPath, IReadOnlyList<string> images, int topWords, string format, int chunkSize)
    {
        string folder = Path.GetFullPath(outPath) + ".partial";
        var model = new FileInfo(modelPath);
        var key = new StringBuilder()
            .Append(CultureInfo.InvariantCulture, $"v{FormatVersion}\n{model.FullName}\t{model.Length}\t{model.LastWriteTimeUtc.Ticks}\n")
            .Append(CultureInfo.InvariantCulture, $"top-words {topWords}\nformat {format}\nchunk {chunkSize}\n");
        foreach (string image in images) key.Append(Path.GetFullPath(image)).Append('\n');
        string hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key.ToString())));
        string keyPath = Path.Combine(folder, "key.txt");
        if (Directory.Exists(folder) && (!File.Exists(keyPath) || File.ReadAllText(keyPath) != hash))
            Directory.Delete(folder, recursive: true);
        if (!Directory.Exists(folder))
        {
            Directory.CreateDirectory(folder);
            File.WriteAllText(keyPath, hash);
        }
        return new PredictionJournal(folder, chunkSize);
    }

    /// <summary>The finished chunks, in order, up to the first missing or unreadable one.</summary>
    public IEnumerable<IReadOnlyList<ImagePredictionResult>> FinishedChunks()
    {
        for (int k = 0; ; k++)
        {
            string path = ChunkPath(k);
            if (!File.Exists(path)) yield break;
            List<Entry>? entries;
            try
            {
                entries = JsonSerializer.Deserialize<List<Entry>>(File.ReadAllBytes(path));
            }
            catch (JsonException)
            {
                yield break;
            }
            if (entries == null) yield break;
            yield return entries.Select(e => new ImagePredictionResult(e.Image,
                e.Problem != null ? null : e.Prediction,
                e.Problem)).ToList();
        }
    }

    /// <summary>Keeps chunk <paramref name="index"/> (written atomically: a killed run leaves it whole or absent).</summary>
    public void Save(int index, IReadOnlyList<ImagePredictionResult> chunk)
    {
        var entries = chunk.Select(r => new Entry
        {
            Image = r.ImagePath,
            Problem = r.Problem,
            Prediction = r.Prediction,
        }).ToList();
        string path = ChunkPath(index), temporary = path + ".tmp";
        File.WriteAllBytes(temporary, JsonSerializer.SerializeToUtf8Bytes(entries));
        File.Move(temporary, path, overwrite: true);
    }

    /// <summary>Removes the journal (the output file is complete).</summary>
    public void Delete()
    {
        try
        {
            Directory.Delete(_folder, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private string ChunkPath(int index) => Path.Combine(_folder, $"chunk-{index.ToString("D6", CultureInfo.InvariantCulture)}.json");

    private sealed class Entry
    {
        public string Image { get; set; } = "";
        public string? Problem { get; set; }
        public PromptPrediction? Prediction { get; set; }
    }
}
