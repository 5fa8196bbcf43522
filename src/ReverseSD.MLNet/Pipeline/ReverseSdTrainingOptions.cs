using ReverseSD.MLNet.FineTuning;
using ReverseSD.MLNet.Heads;

namespace ReverseSD.MLNet.Pipeline;

/// <summary>Options of <see cref="ReverseSdModel.Train"/>: backbone, heads and the feature cache.</summary>
public sealed class ReverseSdTrainingOptions
{
    /// <summary>"resnet18", "resnet18-SIZE", or the path of an ONNX image encoder (then <see cref="Preprocessing"/> is needed).</summary>
    public string Backbone { get; set; } = "resnet18";

    /// <summary>Preprocessing spec of an ONNX backbone (compact string or JSON file).</summary>
    public string? Preprocessing { get; set; }

    /// <summary>The heads trainer's options (configuration, λ, epochs, learning rate, batch size, seed, hidden layers, device).</summary>
    public PromptEmbeddingHeadsTrainer.Options Heads { get; set; } = new();

    /// <summary>Vocabulary size m (paper: 1000).</summary>
    public int VocabularySize { get; set; } = 1000;

    /// <summary>Folder of the backbone feature cache; default DATA/.cache.</summary>
    public string? CacheDirectory { get; set; }

    /// <summary>
    /// Rows per feature-cache chunk, the unit committed atomically: a killed training started again continues after its
    /// last finished chunk. A cache folder that exists keeps the chunk size it was started with.
    /// </summary>
    public int CacheChunkSize { get; set; } = Backbones.FeatureCache.DefaultChunkSize;

    /// <summary>Backbone fine-tuning before the heads train (none by default; layer4 on a CPU).</summary>
    public BackboneFineTuningOptions FineTuning { get; set; } = new();

    /// <summary>
    /// The prompt bank put into the model zip as its NearestPrompts stage: <see cref="TrainingPromptsBank"/> (default: the distinct
    /// training prompts), <see cref="NoBank"/>, or the path of a bank file written by 'reversesd bank build'. Ignored for an
    /// ensemble's members (<see cref="ReverseSdEnsembleOptions.PromptBank"/> applies).
    /// </summary>
    public string PromptBank { get; set; } = TrainingPromptsBank;

    /// <summary>The value of <see cref="PromptBank"/> that puts the distinct training prompts into the zip.</summary>
    public const string TrainingPromptsBank = "train";

    /// <summary>The value of <see cref="PromptBank"/> that leaves the prompt bank out of the zip.</summary>
    public const string NoBank = "none";

    /// <summary>ONNX protobufs stop at 2 GB: a bank whose vectors and text pass this many bytes is refused for the zip.</summary>
    internal const long DefaultMaxPromptBankBytes = 1_800_000_000;

    /// <summary>The bank size limit (a seam, so a test needs no 2 GB bank).</summary>
    internal long MaxPromptBankBytes { get; set; } = DefaultMaxPromptBankBytes;
}
