using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using ReverseSD.MLNet;

namespace ReverseSD.Cli;

/// <summary>Format of a command's results: one JSON array, JSON lines, or CSV (one record per line, RFC 4180 quoting).</summary>
internal enum ResultFormat
{
    /// <summary>One JSON array, one object per line.</summary>
    Json,

    /// <summary>One JSON object per line (JSON Lines).</summary>
    Jsonl,

    /// <summary>CSV with a header; a vector becomes one column per value, a list one cell holding its compact JSON.</summary>
    Csv,
}

/// <summary>
/// Writes a command's results as they come, to stdout or to a file (--out), in json, jsonl or csv. Usage:
/// <code>
/// using var results = ResultWriter.Open(streams, settings.Out, settings.Format);
/// foreach (var p in predictions)
///     results.Write(new ResultRecord().Text("image", p.Path).Vector("embedding", p.Embedding, csvPrefix: "e"));
/// results.Complete();
/// </code>
/// A file is written under a temporary name and moved into place by <see cref="Complete"/>; disposed without
/// <see cref="Complete"/> (an error), it leaves nothing. On stdout each record is flushed when written. `predict --out`
/// writes through <see cref="ResumableResultFile"/> instead, which keeps a killed run's finished records.
/// Every record must have the fields of the first (CSV needs one header).
/// </summary>
internal sealed class ResultWriter : IDisposable
{
    private readonly TextWriter _writer;
    private readonly string? _path;
    private readonly string? _temporaryPath;
    private readonly bool _flushEachRecord;
    private string[]? _csvHeader;
    private int _count;
    private bool _completed;

    private ResultWriter(TextWriter writer, ResultFormat format, string? path, string? temporaryPath, bool flushEachRecord, int count = 0)
    {
        _writer = writer;
        Format = format;
        _path = path;
        _temporaryPath = temporaryPath;
        _count = count;
        _flushEachRecord = flushEachRecord;
    }

    /// <summary>The format being written.</summary>
    public ResultFormat Format { get; }

    /// <summary>Records written so far.</summary>
    public int Count => _count;

    /// <summary>
    /// The format of <paramref name="format"/> if given, else from <paramref name="outPath"/>'s extension (.json, .jsonl,
    /// .csv), else json. An --out extension that contradicts --format, or an unknown one, is bad input.
    /// </summary>
    public static ResultFormat ChooseFormat(ResultFormat? format, string? outPath)
    {
        if (string.IsNullOrEmpty(outPath)) return format ?? ResultFormat.Json;
        ResultFormat? byExtension = Path.GetExtension(outPath).ToLowerInvariant() switch
        {
            ".json" => ResultFormat.Json,
            ".jsonl" or ".ndjson" => ResultFormat.Jsonl,
            ".csv" => ResultFormat.Csv,
            _ => null,
        };
        if (byExtension == null && format == null)
            throw new ReverseSdInputException($"--out '{outPath}': unknown extension; use .json, .jsonl or .csv, or give --format.");
        if (format != null && byExtension != null && format != byExtension)
            throw new ReverseSdInputException(
                $"--out '{outPath}' ends in {Path.GetExtension(outPath)} but --format is {format.ToString()!.ToLowerInvariant()}: make them agree.");
        return format ?? byExtension!.Value;
    }

    /// <summary>Opens results on stdout (<paramref name="outPath"/> null or "-") or on a file written atomically.</summary>
    public static ResultWriter Open(CliStreams streams, string? outPath, ResultFormat? format)
    {
        bool toStdout = string.IsNullOrEmpty(outPath) || outPath == "-";
        var chosen = ChooseFormat(format, toStdout ? null : outPath);
        if (toStdout) return new ResultWriter(streams.Out, chosen, null, null, flushEachRecord: true);
        string full = Path.GetFullPath(outPath!);
        string? dir = Path.GetDirectoryName(full);
        if (!string.IsNullOrEmpty(dir) && !Directory.Exists(dir))
            throw new ReverseSdInputException($"--out '{outPath}': folder '{dir}' does not exist; create it first.");
        string temporary = full + $".tmp-{Environment.ProcessId}-{Guid.NewGuid():N}";
        var writer = new StreamWriter(new FileStream(temporary, FileMode.CreateNew, FileAccess.Write), new UTF8Encoding(false)) { NewLine = "\n" };
        return new ResultWriter(writer, chosen, full, temporary, flushEachRecord: false);
    }

    /// <summary>
    /// Results appended to <paramref name="file"/>, which already holds the first <paramref name="count"/> records in
    /// <paramref name="format"/> (a CSV header included); the owner of the file flushes, closes and moves it
    /// (<see cref="ResumableResultFile"/>). <see cref="Complete"/> ends the output without closing the file.
    /// </summary>
    internal static ResultWriter Continue(StreamWriter file, ResultFormat format, int count) => new(file, format, null, null, flushEachRecord: false, count);

    /// <summary>Pushes what was written to the underlying stream.</summary>
    public void Flush() => _writer.Flush();

    /// <summary>Writes one record.</summary>
    public void Write(ResultRecord record)
    {
        ObjectDisposedException.ThrowIf(_completed, this);
        switch (Format)
        {
            case ResultFormat.Json:
                _writer.Write(_count == 0 ? "[\n" : ",\n"); // nothing is written before the first record, so an early error leaves stdout empty
                _writer.Write(record.ToJson());
                break;
            case ResultFormat.Jsonl:
                _writer.Write(record.ToJson());
                _writer.Write('\n');
                break;
            default:
                var header = record.CsvHeader();
                if (_csvHeader == null && _count > 0)
                {
                    _csvHeader = header; // continuing a file whose header was written with its first record
                }
                else if (_csvHeader == null)
                {
                    _csvHeader = header;
                    _writer.Write(string.Join(",", header.Select(CsvField)));
                    _writer.Write('\n');
                }
                else if (!header.SequenceEqual(_csvHeader))
                {
                    throw new InvalidOperationException("Every CSV record must have the fields of the first.");
                }
                _writer.Write(string.Join(",", record.CsvCells().Select(CsvField)));
                _writer.Write('\n');
                break;
        }
        _count++;
        if (_flushEachRecord) _writer.Flush();
    }

    /// <summary>Ends the output (closes the JSON array) and, for a file, moves it into place.</summary>
    public void Complete()
    {
        if (_completed) return;
        if (Format == ResultFormat.Json) _writer.Write(_count == 0 ? "[]\n" : "\n]\n");
        _writer.Flush();
        _completed = true;
        if (_path != null)
        {
            _writer.Dispose();
            File.Move(_temporaryPath!, _path, overwrite: true);
        }
    }

    /// <summary>Closes a file; one not completed is deleted, so an error leaves no half-written result.</summary>
    public void Dispose()
    {
        if (_path == null) { _completed = true; return; }
        if (!_completed)
        {
            _completed = true;
            _writer.Dispose();
            try { File.Delete(_temporaryPath!); } catch (IOException) { }
        }
    }

    /// <summary>RFC 4180: a field holding a comma, quote, line break or edge space is quoted, quotes doubled.</summary>
    public static string CsvField(string field) =>
        field.IndexOfAny([',', '"', '\n', '\r']) >= 0 || (field.Length > 0 && (field[0] == ' ' || field[^1] == ' '))
            ? "\"" + field.Replace("\"", "\"\"") + "\""
            : field;
}

/// <summary>One result: named fields in order (text, numbers, vectors, lists of nested records).</summary>
internal sealed class ResultRecord
{
    // Prompts stay readable (é, not \u00E9); the output is data, never embedded in HTML.
    private static readonly JsonWriterOptions JsonOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private readonly List<(string Name, object? Value, string? CsvPrefix)> _fields = [];

    /// <summary>Adds a text field (null is written as JSON null and an empty CSV cell).</summary>
    public ResultRecord Text(string name, string? value) => Add(name, value);

    /// <summary>Adds a number.</summary>
    public ResultRecord Number(string name, double value) => Add(name, value);

    /// <summary>Adds a single-precision number (written with float precision: 0.1, not 0.10000000149011612).</summary>
    public ResultRecord Number(string name, float value) => Add(name, value);

    /// <summary>Adds a single-precision number, or null (JSON null, empty CSV cell).</summary>
    public ResultRecord Nullable(string name, float? value) => Add(name, value);

    /// <summary>Adds an integer.</summary>
    public ResultRecord Integer(string name, long value) => Add(name, value);

    /// <summary>Adds a vector: a JSON array; in CSV one column per value, named <paramref name="csvPrefix"/> (default NAME_) + index.</summary>
    public ResultRecord Vector(string name, IReadOnlyList<float> values, string? csvPrefix = null)
    {
        _fields.Add((name, values, csvPrefix ?? name + "_"));
        return this;
    }

    /// <summary>Adds a list of nested records: a JSON array of objects; in CSV one cell holding that array's compact JSON.</summary>
    public ResultRecord List(string name, IEnumerable<ResultRecord> items) => Add(name, items.ToList());

    private ResultRecord Add(string name, object? value)
    {
        _fields.Add((name, value, null));
        return this;
    }

    /// <summary>The record as one line of compact JSON.</summary>
    public string ToJson()
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, JsonOptions))
            WriteJson(json);
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    internal void WriteJson(Utf8JsonWriter json)
    {
        json.WriteStartObject();
        foreach (var (name, value, _) in _fields)
        {
            json.WritePropertyName(name);
            WriteJsonValue(json, value);
        }
        json.WriteEndObject();
    }

    internal string[] CsvHeader() => _fields.SelectMany(f => f.Value is IReadOnlyList<float> v
        ? Enumerable.Range(0, v.Count).Select(i => f.CsvPrefix + i.ToString(CultureInfo.InvariantCulture))
        : [f.Name]).ToArray();

    internal IEnumerable<string> CsvCells() => _fields.SelectMany(f => f.Value switch
    {
        IReadOnlyList<float> v => v.Select(x => Format(x)),
        List<ResultRecord> items => [ListJson(items)],
        var other => [Cell(other)],
    });

    private static string ListJson(List<ResultRecord> items)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, JsonOptions))
            WriteJsonValue(json, items);
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    private static void WriteJsonValue(Utf8JsonWriter json, object? value)
    {
        switch (value)
        {
            case null: json.WriteNullValue(); break;
            case string s: json.WriteStringValue(s); break;
            case float f when float.IsFinite(f): json.WriteNumberValue(f); break;
            case double d when double.IsFinite(d): json.WriteNumberValue(d); break;
            case float or double: json.WriteNullValue(); break; // NaN / infinity have no JSON number
            case long l: json.WriteNumberValue(l); break;
            case IReadOnlyList<float> v:
                json.WriteStartArray();
                foreach (float x in v) WriteJsonValue(json, x);
                json.WriteEndArray();
                break;
            case List<ResultRecord> items:
                json.WriteStartArray();
                foreach (var item in items) item.WriteJson(json);
                json.WriteEndArray();
                break;
            default: throw new InvalidOperationException($"Unsupported result value {value.GetType().Name}.");
        }
    }

    private static string Cell(object? value) => value switch
    {
        null => "",
        string s => s,
        float f => Format(f),
        double d => double.IsFinite(d) ? d.ToString("R", CultureInfo.InvariantCulture) : "",
        long l => l.ToString(CultureInfo.InvariantCulture),
        _ => throw new InvalidOperationException($"Unsupported result value {value.GetType().Name}."),
    };

    private static string Format(float f) => float.IsFinite(f) ? f.ToString("R", CultureInfo.InvariantCulture) : "";
}
