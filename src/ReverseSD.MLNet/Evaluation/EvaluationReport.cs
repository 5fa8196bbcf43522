using System.Text.Json;
using System.Text.Json.Serialization;

namespace ReverseSD.MLNet.Evaluation;

/// <summary>
/// The report `reversesd train` and `reversesd evaluate` write (report.json, snake_case): the model's mean cosine on a
/// split with its standard error, the mean-embedding baseline, the visual-only ceiling when the data set has visual
/// prompts, a paired t-test of model vs baseline, and the options used. Per-sample cosines sit beside it in a CSV.
/// </summary>
public sealed class EvaluationReport
{
    /// <summary>The model format version of the evaluated model.</summary>
    public string ModelFormat { get; init; } = Heads.ReverseSdModelFormat.Version;

    /// <summary>The evaluated split ("test" by default).</summary>
    public string Split { get; init; } = "test";

    /// <summary>Number of evaluated pairs.</summary>
    public int NTest { get; init; }

    /// <summary>Images of the split that could not be read (skipped, counted).</summary>
    public int SkippedImages { get; init; }

    /// <summary>Mean cosine between predicted and true prompt embeddings (paper Eq. 1 metric).</summary>
    public double TestMeanCosine { get; init; }

    /// <summary>Standard error of <see cref="TestMeanCosine"/>.</summary>
    public double TestStandardError { get; init; }

    /// <summary>Mean cosine of the baseline that predicts the normalised mean training embedding.</summary>
    public double BaselineMeanCosine { get; init; }

    /// <summary>Standard error of <see cref="BaselineMeanCosine"/>.</summary>
    public double BaselineStandardError { get; init; }

    /// <summary>Mean cosine between the embeddings of each prompt and its visual-only prompt (generated benchmark), or null.</summary>
    public double? CeilingMeanCosine { get; init; }

    /// <summary>Paired t-test of the model's per-sample cosines against the baseline's.</summary>
    public PairedTTestResult? ModelVsBaseline { get; init; }

    /// <summary>File name of the per-sample cosines CSV beside the report.</summary>
    public string? PerSampleCsv { get; init; }

    /// <summary>The options used (training options, data folder, backbone, ...).</summary>
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

    /// <summary>Serialises the report as indented snake_case JSON.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>Writes the report atomically.</summary>
    public void Save(string path) => AtomicFile.WriteAllBytes(path, System.Text.Encoding.UTF8.GetBytes(ToJson()));
}
