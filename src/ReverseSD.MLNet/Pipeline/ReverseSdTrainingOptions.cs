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

    /// <summary>Backbone fine-tuning before the heads train (none by default; layer4 on a CPU).</summary>
    public BackboneFineTuningOptions FineTuning { get; set; } = new();
}
