using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using ReverseSD.MLNet;
using ReverseSD.MLNet.Backbones;

namespace ReverseSD.Cli;

/// <summary>
/// A results file (`predict --out FILE`) written as the results come and resumable after a kill: the records go to
/// FILE.partial, and after each finished chunk FILE.partial.json records (written atomically) how many inputs and bytes
/// of it are finished, the inputs skipped so far, and a key of the run's arguments. A run started again with the same
/// key cuts FILE.partial back to the last finished chunk and continues after it, so FILE ends equal to an uninterrupted
/// run's; <see cref="Complete"/> moves FILE.partial onto FILE and removes the record. FILE.partial is locked while a run
/// writes it.
/// </summary>
internal sealed class ResumableResultFile : IDisposable
{
    private const int FormatVersion = 1;
    private static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    private readonly string _path;
    private readonly string _dataPath;
    private readonly string _statePath;
    private readonly string _key;
    private readonly FileStream _stream;
    private readonly StreamWriter _writer;
    private readonly List<UnreadableImage> _skipped;
    private bool _closed;

    private ResumableResultFile(string path, string key, FileStream stream, ResultFormat format, State? resumed)
    {
        _path = path;
        _dataPath = path + ".partial";
        _statePath = path + ".partial.json";
        _key = key;
        _stream = stream;
        _writer = new StreamWriter(stream, new UTF8Encoding(false)) { NewLine = "\n" };
        InputsDone = resumed?.InputsDone ?? 0;
        _skipped = resumed?.Skipped.Select(s => new UnreadableImage(s.Path, s.Problem)).ToList() ?? [];
        Results = ResultWriter.Continue(_writer, format, resumed?.Records ?? 0);
    }

    /// <summary>Where results are written.</summary>
    public ResultWriter Results { get; }

    /// <summary>Inputs whose results are kept (finished chunks of an earlier run, then of this one).</summary>
    public int InputsDone { get; private set; }

    /// <summary>True when an earlier run's finished chunks were kept.</summary>
    public bool Resumed { get; private init; }

    /// <summary>The inputs skipped in the kept chunks, in order.</summary>
    public IReadOnlyList<UnreadableImage> Skipped => _skipped;

    /// <summary>
    /// A key of everything that decides a run's output: a restarted run continues only when its key is the same. Files
    /// are named by full path, size and time stamp.
    /// </summary>
    public static string Key(IEnumerable<string> values)
    {
        var text = new StringBuilder().Append('v').Append(FormatVersion).Append('\n');
        foreach (string value in values) text.Append(value.Replace("\n", " ", StringComparison.Ordinal)).Append('\n');
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())));
    }

    /// <summary>A file named by full path, size and last write time (for <see cref="Key"/>).</summary>
    public static string FileStamp(string path)
    {
        var file = new FileInfo(path);
        return file.Exists ? $"{file.FullName}\t{file.Length}\t{file.LastWriteTimeUtc.Ticks}" : file.FullName;
    }

    /// <summary>
    /// Opens the results file <paramref name="outPath"/>: continues the partial file an earlier run with the same
    /// <paramref name="key"/> left, else starts a new one (discarding a partial file of other arguments).
    /// </summary>
    public static ResumableResultFile Open(string outPath, ResultFormat format, string key)
    {
        string full = Path.GetFullPath(outPath);
        string? folder = Path.GetDirectoryName(full);
        if (!string.IsNullOrEmpty(folder) && !Directory.Exists(folder))
            throw new ReverseSdInputException($"--out '{outPath}': folder '{folder}' does not exist; create it first.");
        string dataPath = full + ".partial", statePath = full + ".partial.json";
        FileStream stream;
        try
        {
            // FileShare.None locks the file (flock on Unix): a second run on the same --out stops here.
            stream = new FileStream(dataPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException e)
        {
            throw new ReverseSdInputException($"--out '{outPath}': '{dataPath}' is in use ({e.Message}); is another run writing it? Wait for it or give another --out.", e);
        }
        try
        {
            var state = ReadState(statePath);
            bool resume = state != null && state.Key == key && state.Bytes <= stream.Length;
            stream.SetLength(resume ? state!.Bytes : 0); // drops whatever was written after the last finished chunk
            stream.Seek(0, SeekOrigin.End);
            if (!resume) File.Delete(statePath);
            return new ResumableResultFile(full, key, stream, format, resume ? state : null) { Resumed = resume };
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Marks everything written so far as finished: <paramref name="inputsDone"/> inputs in all, with
    /// <paramref name="skipped"/> the inputs of this chunk that had no result. The data reaches the disk before the record.
    /// </summary>
    public void Keep(int inputsDone, IEnumerable<UnreadableImage> skipped)
    {
        ObjectDisposedException.ThrowIf(_closed, this);
        _skipped.AddRange(skipped);
        InputsDone = inputsDone;
        Results.Flush();
        _writer.Flush();
        _stream.Flush(flushToDisk: true);
        var state = new State
        {
            Key = _key, InputsDone = inputsDone, Records = Results.Count, Bytes = _stream.Length,
            Skipped = _skipped.Select(s => new SkippedInput { Path = s.Path, Problem = s.Reason }).ToList(),
        };
        string temporary = _statePath + ".tmp";
        File.WriteAllBytes(temporary, JsonSerializer.SerializeToUtf8Bytes(state, Json));
        File.Move(temporary, _statePath, overwrite: true);
    }

    /// <summary>Ends the results and moves them onto the output file; the partial record is removed.</summary>
    public void Complete()
    {
        ObjectDisposedException.ThrowIf(_closed, this);
        Results.Complete();
        _writer.Flush();
        _stream.Flush(flushToDisk: true);
        Close();
        File.Move(_dataPath, _path, overwrite: true);
        File.Delete(_statePath);
    }

    /// <summary>Removes the partial file and its record (an error that a restart would only repeat).</summary>
    public void Discard()
    {
        Close();
        File.Delete(_dataPath);
        File.Delete(_statePath);
    }

    /// <summary>Closes the file; what was kept stays for the next run to continue (a partial file with nothing kept is removed).</summary>
    public void Dispose()
    {
        if (_closed) return;
        if (InputsDone == 0) Discard();
        else Close();
    }

    private void Close()
    {
        if (_closed) return;
        _closed = true;
        Results.Dispose();
        _writer.Dispose();
    }

    private static State? ReadState(string path)
    {
        try
        {
            return File.Exists(path) ? JsonSerializer.Deserialize<State>(File.ReadAllBytes(path), Json) : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private sealed class State
    {
        public string Key { get; set; } = "";

        public int InputsDone { get; set; }

        public int Records { get; set; }

        public long Bytes { get; set; }

        public List<SkippedInput> Skipped { get; set; } = [];
    }

    private sealed class SkippedInput
    {
        public string Path { get; set; } = "";

        public string Problem { get; set; } = "";
    }
}
