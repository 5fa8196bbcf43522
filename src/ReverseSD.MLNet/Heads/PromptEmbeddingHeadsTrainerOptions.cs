using Microsoft.ML;
using ReverseSD.MLNet.Curriculum;
using ReverseSD.MLNet.Text;

namespace ReverseSD.MLNet.Heads;

// The trainer's options, their defaults and their validation.
public sealed partial class PromptEmbeddingHeadsTrainer
{
    /// <summary>Defaults of <see cref="Options"/>.</summary>
    public static class Defaults
    {
        /// <summary>The paper's best configuration (Table 2).</summary>
        public const HeadConfiguration Configuration = HeadConfiguration.EmbeddingFeedsVocabulary;

        /// <summary>λ of L = L1 + λ·L2 (paper §4.2).</summary>
        public const float VocabularyWeight = 0.1f;

        /// <summary>Batch size (paper §4.2).</summary>
        public const int BatchSize = 64;

        /// <summary>Epochs over the training features.</summary>
        public const int NumberOfEpochs = 20;

        /// <summary>Learning rate of a head on frozen features.</summary>
        public const double LearningRate = 1e-3;

        /// <summary>Dropout after each hidden layer (official CLIP head: 0.5).</summary>
        public const double Dropout = 0.5;

        /// <summary>Seed of the weight initialisation, dropout and batch order.</summary>
        public const int Seed = 1;

        /// <summary>Channels per position of the learned spatial pooling of a feature map (issue 14).</summary>
        public const int SpatialChannels = 8;

        /// <summary>Dropout on the learned spatial pooling's projections while training.</summary>
        public const double SpatialDropout = 0;
    }

    /// <summary>Options of <see cref="PromptEmbeddingHeadsTrainer"/>.</summary>
    public sealed class Options
    {
        /// <summary>A copy, so that changing these options after the trainer is built changes nothing.</summary>
        internal Options Clone()
        {
            var copy = (Options)MemberwiseClone();
            copy.HiddenLayerSizes = HiddenLayerSizes?.ToArray()!;
            copy.VocabularyWords = VocabularyWords?.ToArray();
            copy.Curriculum = Curriculum?.Clone()!;
            return copy;
        }

        /// <summary>Input column of image features (known-size Single vector).</summary>
        public string FeatureColumnName { get; set; } = ColumnNames.ImageFeatures;

        /// <summary>
        /// Label column: the prompt text (targets and vocabulary labels derived at Fit; rows with an empty prompt are not trained on),
        /// or the prompt's sentence embedding s(y).
        /// </summary>
        public string LabelColumnName { get; set; } = ColumnNames.Prompt;

        /// <summary>Vocabulary size m (paper: 1000) of the vocabulary built from the training prompts when the label is text.</summary>
        public int VocabularySize { get; set; } = Vocabulary.DefaultSize;

        /// <summary>Multi-hot vocabulary labels column (paper Eq. 2) read when the label is an embedding; its slot names, when present, name the words.</summary>
        public string VocabularyLabelsColumnName { get; set; } = ColumnNames.VocabularyLabels;

        /// <summary>Output column of the predicted, L2-normalised embedding.</summary>
        public string OutputColumnName { get; set; } = ColumnNames.PredictedEmbedding;

        /// <summary>Output column of the vocabulary head's sigmoid probabilities.</summary>
        public string ProbabilitiesColumnName { get; set; } = ColumnNames.VocabularyProbabilities;

        /// <summary>Head wiring (Fig. 3) or the embedding head alone.</summary>
        public HeadConfiguration Configuration { get; set; } = Defaults.Configuration;

        /// <summary>
        /// 0 (default): the features are a vector. K &gt; 0: the features are a feature map of K channels flattened channel-major
        /// (backbone resnet18-map: 512 × 7 × 7), and the heads first pool it themselves: its average over positions (K values)
        /// followed by every position's K channels projected to <see cref="SpatialChannels"/> by one learned linear map (a 1×1 convolution).
        /// </summary>
        public int FeatureMapChannels { get; set; }

        /// <summary>Channels C per position of the learned spatial pooling (used only with <see cref="FeatureMapChannels"/>).</summary>
        public int SpatialChannels { get; set; } = Defaults.SpatialChannels;

        /// <summary>Dropout probability on the learned spatial pooling's projections while training (used only with <see cref="FeatureMapChannels"/>).</summary>
        public double SpatialDropout { get; set; } = Defaults.SpatialDropout;

        /// <summary>Hidden layer sizes of the embedding head; empty = one fully connected layer as in the paper.</summary>
        public int[] HiddenLayerSizes { get; set; } = [];

        /// <summary>Dropout probability after each hidden layer (unused without hidden layers).</summary>
        public double Dropout { get; set; } = Defaults.Dropout;

        /// <summary>λ, the weight of the vocabulary BCE loss L2.</summary>
        public float VocabularyWeight { get; set; } = Defaults.VocabularyWeight;

        /// <summary>Weight of a Huber loss on the normalised embedding (the official code's extra term; 0 = off as in the paper).</summary>
        public float HuberWeight { get; set; }

        /// <summary>Optimizer.</summary>
        public HeadsOptimizer Optimizer { get; set; } = HeadsOptimizer.Adam;

        /// <summary>Learning rate.</summary>
        public double LearningRate { get; set; } = Defaults.LearningRate;

        /// <summary>Mini-batch size.</summary>
        public int BatchSize { get; set; } = Defaults.BatchSize;

        /// <summary>Number of epochs (with <see cref="AutomaticEpochs"/>, only the minimum when there is no validation data).</summary>
        public int NumberOfEpochs { get; set; } = Defaults.NumberOfEpochs;

        /// <summary>
        /// Trains until the validation mean cosine has not improved for 5 epochs and 150 steps, never before 300 optimizer steps, at most
        /// 10,000 steps, keeping the best epoch (CLI <c>--epochs auto</c>). Without validation data: <see cref="NumberOfEpochs"/> or 300
        /// steps, whichever is longer. A curriculum ignores it (its steps follow <see cref="NumberOfEpochs"/>).
        /// </summary>
        public bool AutomaticEpochs { get; set; }

        /// <summary>Weight decay (L2 penalty for Adam, decoupled for AdamW).</summary>
        public double WeightDecay { get; set; }

        /// <summary>Seed: training twice with the same seed and data gives identical weights.</summary>
        public int Seed { get; set; } = Defaults.Seed;

        /// <summary>Training device.</summary>
        public HeadsDevice Device { get; set; } = HeadsDevice.Auto;

        /// <summary>Vocabulary words used when the labels column carries no slot names.</summary>
        public IReadOnlyList<string>? VocabularyWords { get; set; }

        /// <summary>The paper's curriculum (§3): none by default.</summary>
        public CurriculumOptions Curriculum { get; set; } = new();

        /// <summary>
        /// Validation rows in the trainer's input schema (e.g. the backbone's output on the validation images), used by
        /// <see cref="Fit(IDataView)"/> inside an estimator chain to keep the best epoch; <see cref="Fit(IDataView, IDataView)"/> overrides it.
        /// </summary>
        public IDataView? ValidationData { get; set; }

        /// <summary>The prompt embeddings shared by the stages of one system Fit; null embeds the prompts here.</summary>
        internal PromptEmbeddingMemo? PromptEmbeddings { get; set; }
    }

    /// <summary>Refuses options out of range (each message names the option).</summary>
    internal static void Validate(Options o)
    {
        foreach (var (name, value) in new[] { ("FeatureColumnName", o.FeatureColumnName), ("LabelColumnName", o.LabelColumnName),
                     ("VocabularyLabelsColumnName", o.VocabularyLabelsColumnName), ("OutputColumnName", o.OutputColumnName),
                     ("ProbabilitiesColumnName", o.ProbabilitiesColumnName) })
            if (string.IsNullOrWhiteSpace(value)) throw new ArgumentException($"{name} must name a column.", nameof(o));
        if (o.VocabularySize < 1) throw new ArgumentOutOfRangeException(nameof(o), $"VocabularySize must be at least 1; got {o.VocabularySize}.");
        if (!Enum.IsDefined(o.Configuration)) throw new ArgumentOutOfRangeException(nameof(o), $"Configuration {o.Configuration} is not a head configuration.");
        if (!Enum.IsDefined(o.Optimizer)) throw new ArgumentOutOfRangeException(nameof(o), $"Optimizer {o.Optimizer} is not supported.");
        if (!Enum.IsDefined(o.Device)) throw new ArgumentOutOfRangeException(nameof(o), $"Device {o.Device} is not supported.");
        if (o.FeatureMapChannels < 0) throw new ArgumentOutOfRangeException(nameof(o), $"FeatureMapChannels must be >= 0 (0: the features are a vector); got {o.FeatureMapChannels}.");
        if (!(o.SpatialDropout >= 0 && o.SpatialDropout < 1)) throw new ArgumentOutOfRangeException(nameof(o), $"SpatialDropout must be in [0, 1); got {o.SpatialDropout}.");
        if (o.SpatialChannels < 1) throw new ArgumentOutOfRangeException(nameof(o), $"SpatialChannels must be at least 1; got {o.SpatialChannels}.");
        if (o.HiddenLayerSizes == null || o.HiddenLayerSizes.Any(h => h <= 0))
            throw new ArgumentOutOfRangeException(nameof(o), "HiddenLayerSizes must hold positive sizes (empty for one linear layer).");
        if (!(o.Dropout >= 0 && o.Dropout < 1)) throw new ArgumentOutOfRangeException(nameof(o), $"Dropout must be in [0, 1); got {o.Dropout}.");
        if (!(o.VocabularyWeight >= 0) || float.IsInfinity(o.VocabularyWeight)) throw new ArgumentOutOfRangeException(nameof(o), $"VocabularyWeight (λ) must be finite and >= 0; got {o.VocabularyWeight}.");
        if (!(o.HuberWeight >= 0) || float.IsInfinity(o.HuberWeight)) throw new ArgumentOutOfRangeException(nameof(o), $"HuberWeight must be finite and >= 0; got {o.HuberWeight}.");
        if (!(o.LearningRate > 0) || double.IsInfinity(o.LearningRate)) throw new ArgumentOutOfRangeException(nameof(o), $"LearningRate must be positive; got {o.LearningRate}.");
        if (o.BatchSize < 2) throw new ArgumentOutOfRangeException(nameof(o), $"BatchSize must be at least 2; got {o.BatchSize}.");
        if (o.NumberOfEpochs < 1) throw new ArgumentOutOfRangeException(nameof(o), $"NumberOfEpochs must be at least 1; got {o.NumberOfEpochs}.");
        if (!(o.WeightDecay >= 0)) throw new ArgumentOutOfRangeException(nameof(o), $"WeightDecay must be >= 0; got {o.WeightDecay}.");
        if (o.Curriculum == null) throw new ArgumentOutOfRangeException(nameof(o), "Curriculum must be set (Splitting = None for no curriculum).");
        o.Curriculum.Validate();
    }
}
