using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;

namespace ReverseSD.MLNet.Evaluation;

/// <summary>
/// The report `reversesd train` and `reversesd evaluate` write (report.json, snake_case, format
/// <see cref="FormatVersion"/>; every field is described in docs/report-format.md): the model's mean cosine on a split
/// with its standard error, the mean-embedding baseline, the visual-only ceiling when the data set has visual prompts,
/// a paired t-test of model vs baseline, and the options used. Keys do not depend on the split ("mean_cosine", "n");
/// numbers are JSON numbers. Per-sample cosines sit beside it in a CSV (columns index, image, cosine, baseline_cosine).
/// </summary>
public sealed partial class EvaluationReport
{
    /// <summary>The version of this report's layout, written as "report_format"; it changes when a key changes.</summary>
    public const string FormatVersion = "reversesd-report/2";

    /// <summary>The report layout version (<see cref="FormatVersion"/>).</summary>
    [JsonPropertyOrder(-1)]
    public string ReportFormat => FormatVersion;

    /// <summary>The model format version of the evaluated model.</summary>
    public string ModelFormat { get; init; } = Heads.ReverseSdModelFormat.Version;

    /// <summary>The evaluated split ("test" by default).</summary>
    public string Split { get; init; } = "test";

    /// <summary>Number of evaluated pairs (written as "n", whatever the split).</summary>
    [JsonPropertyName("n")]
    public int NTest { get; init; }

    /// <summary>Images of the split that could not be read (skipped, counted).</summary>
    public int SkippedImages { get; init; }

    /// <summary>Mean cosine between predicted and true prompt embeddings (paper Eq. 1 metric).</summary>
    [JsonPropertyName("mean_cosine")]
    public double TestMeanCosine { get; init; }

    /// <summary>Standard error of <see cref="TestMeanCosine"/>.</summary>
    [JsonPropertyName("standard_error")]
    public double TestStandardError { get; init; }

    /// <summary>Mean cosine of the baseline that predicts the normalised mean training embedding.</summary>
    public double BaselineMeanCosine { get; init; }

    /// <summary>Standard error of <see cref="BaselineMeanCosine"/>.</summary>
    public double BaselineStandardError { get; init; }

    /// <summary>Mean cosine between the embeddings of each prompt and its visual-only prompt (generated benchmark), or null.</summary>
    public double? CeilingMeanCosine { get; init; }

    /// <summary>Paired t-test of the model's per-sample cosines against the baseline's.</summary>
    public PairedTTestResult? ModelVsBaseline { get; init; }

    /// <summary>The answers in words scored against the true prompt embeddings (evaluate with a bank), or null.</summary>
    public PromptEvaluation? Prompts { get; init; }

    /// <summary>File name of the per-sample cosines CSV beside the report.</summary>
    public string? PerSampleCsv { get; init; }

    /// <summary>The options used (training options, data folder, backbone, ...); numeric and true/false values are written as JSON numbers and booleans.</summary>
    [JsonConverter(typeof(TypedOptionsConverter))]
    public IReadOnlyDictionary<string, string> Options { get; init; } = new Dictionary<string, string>();

    /// <summary>The 1-based epoch whose weights the model holds (best validation cosine; train only).</summary>
    public int? BestEpoch { get; init; }

    /// <summary>Per-epoch training summaries (train only).</summary>
    public IReadOnlyList<Heads.HeadsEpochSummary>? TrainingHistory { get; init; }

    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new JsonStringEnumConverter() },
    };

    /// <summary>A copy of this report with <see cref="Prompts"/> set.</summary>
    internal EvaluationReport WithPrompts(PromptEvaluation? prompts) => new()
    {
        ModelFormat = ModelFormat, Split = Split, NTest = NTest, SkippedImages = SkippedImages, TestMeanCosine = TestMeanCosine,
        TestStandardError = TestStandardError, BaselineMeanCosine = BaselineMeanCosine, BaselineStandardError = BaselineStandardError,
        CeilingMeanCosine = CeilingMeanCosine, ModelVsBaseline = ModelVsBaseline, Prompts = prompts, PerSampleCsv = PerSampleCsv,
        Options = Options, BestEpoch = BestEpoch, TrainingHistory = TrainingHistory,
    };

    /// <summary>Serialises the report as indented snake_case JSON.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>Writes the report atomically.</summary>
    public void Save(string path) => AtomicFile.WriteAllBytes(path, System.Text.Encoding.UTF8.GetBytes(ToJson()));

    /// <summary>
    /// Writes option values as what they are: "20" → 20, "0.10000000149011612" (a float widened to double) → 0.1,
    /// "true" → true; anything else (names, paths, lists such as "0.92,0.04,0.04") stays a string.
    /// </summary>
    internal sealed class TypedOptionsConverter : JsonConverter<IReadOnlyDictionary<string, string>>
    {
        public override IReadOnlyDictionary<string, string> Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        {
            using var document = JsonDocument.ParseValue(ref reader);
            return document.RootElement.EnumerateObject().ToDictionary(p => p.Name,
                p => p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString()! : p.Value.GetRawText());
        }

        public override void Write(Utf8JsonWriter writer, IReadOnlyDictionary<string, string> value, JsonSerializerOptions options)
        {
            writer.WriteStartObject();
            foreach (var (key, text) in value)
            {
                writer.WritePropertyName(key);
                if (text is "true" or "True" or "false" or "False") writer.WriteBooleanValue(text is "true" or "True");
                else if (NumberText().IsMatch(text) && double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) && double.IsFinite(d))
                {
                    if (d == Math.Floor(d) && Math.Abs(d) < 1e15) writer.WriteNumberValue((long)d);
                    else if ((double)(float)d == d) writer.WriteNumberValue((float)d);
                    else writer.WriteNumberValue(d);
                }
                else writer.WriteStringValue(text);
            }
            writer.WriteEndObject();
        }
    }

    [GeneratedRegex(@"^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?$")]
    private static partial Regex NumberText();
}
