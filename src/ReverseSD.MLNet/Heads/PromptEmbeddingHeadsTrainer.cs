using Microsoft.ML;
using Microsoft.ML.Data;
using ReverseSD.MLNet.Curriculum;
using ReverseSD.MLNet.Onnx;
using ReverseSD.MLNet.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace ReverseSD.MLNet.Heads;

/// <summary>
/// Trains the prompt-embedding head and the vocabulary head on image features with TorchSharp (paper §3, Eq. 1–4,
/// Fig. 3), then compiles them into an ONNX graph run by ML.NET's OnnxTransformer, so the fitted model saves
/// with <c>mlContext.Model.Save</c>.
/// <list type="table">
/// <item><term>Input columns</term><description>"ImageFeatures" (known-size Single vector) and the label: either the "Prompt" text (the trainer
/// derives the all-MiniLM-L6-v2 targets s(y) and the vocabulary labels itself) or precomputed targets (known-size Single vector) with
/// "VocabularyLabels" (multi-hot Single vector; not for <see cref="HeadConfiguration.Vanilla"/>)</description></item>
/// <item><term>Output columns</term><description>"PredictedEmbedding" (unit norm), "VocabularyProbabilities", "VocabularyWords", "ModelInfo"</description></item>
/// <item><term>Needs training data</term><description>Yes; optional validation data selects the best epoch</description></item>
/// <item><term>GPU</term><description>CUDA through libtorch when available (<see cref="HeadsDevice"/>; untested here)</description></item>
/// </list>
/// </summary>
public sealed class PromptEmbeddingHeadsTrainer : IEstimator<PromptEmbeddingHeadsTransformer>
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

    private readonly MLContext _mlContext;
    private readonly Options _options;
    private readonly IProgress<ProgressReport>? _progress;
    private readonly CancellationToken _cancellationToken;

    internal PromptEmbeddingHeadsTrainer(MLContext mlContext, Options options, IProgress<ProgressReport>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        ArgumentNullException.ThrowIfNull(options);
        Validate(options);
        _mlContext = mlContext;
        _options = options.Clone();
        _progress = progress;
        _cancellationToken = cancellationToken;
    }

    /// <summary>The options this trainer was built with (a copy).</summary>
    internal Options Settings => _options;

    /// <summary>Trains on <paramref name="input"/>; keeps the best epoch on <see cref="Options.ValidationData"/> when set, else the last epoch.</summary>
    public PromptEmbeddingHeadsTransformer Fit(IDataView input) => Fit(input, _options.ValidationData);

    /// <summary>Trains on <paramref name="trainData"/>; with <paramref name="validationData"/>, keeps the epoch with the best validation mean cosine.</summary>
    public PromptEmbeddingHeadsTransformer Fit(IDataView trainData, IDataView? validationData)
    {
        ArgumentNullException.ThrowIfNull(trainData);
        var (train, validation, words) = ReadSplits(trainData, validationData);
        var device = ResolveDevice(_options.Device);
        using var trainTensors = train.ToTensors(device);
        using var validationTensors = validation?.ToTensors(device);
        var frequencies = train.Labels == null ? null : LabelFrequencies(train.Labels, train.VocabularySize);
        // torch's random generator is process-wide (initialisation and dropout draw from it): one seeded training at a time.
        lock (TorchRandom.Gate)
        {
            if (_options.Curriculum.Enabled)
                return CurriculumTraining.Fit(_mlContext, _options, train.FeatureSize, train.EmbeddingSize, train.VocabularySize, device, trainTensors,
                    validationTensors, words, frequencies, trainData, _progress, _cancellationToken);
            using var network = CreateNetwork(_options, train.FeatureSize, train.EmbeddingSize, train.VocabularySize, device);
            var (stage, stopping) = _options.AutomaticEpochs
                ? EarlyStopping.Schedule(trainTensors.Count, _options.BatchSize, validationTensors != null, _options.NumberOfEpochs)
                : (new TrainingStage(Enumerable.Range(0, trainTensors.Count).ToArray(), Epochs: _options.NumberOfEpochs), null);
            var result = HeadsTrainingLoop.Run(network, LoopSettings(_options), trainTensors, validationTensors, [stage],
                progress: _progress, cancellationToken: _cancellationToken, earlyStopping: stopping);
            return Compile(_mlContext, network, words, frequencies, _options, trainData, result);
        }
    }

    /// <summary>
    /// Runs only the curriculum's preliminary phase (paper §3): trains for <see cref="CurriculumOptions.PreliminaryEpochs"/>
    /// epochs and returns every training row's difficulty with the chunks <see cref="Options.Curriculum"/> would use
    /// (equal thirds when no curriculum is set).
    /// </summary>
    public CurriculumResult ScoreDifficulty(IDataView trainData, IDataView? validationData = null)
    {
        ArgumentNullException.ThrowIfNull(trainData);
        var (train, validation, _) = ReadSplits(trainData, validationData);
        var device = ResolveDevice(_options.Device);
        using var trainTensors = train.ToTensors(device);
        using var validationTensors = validation?.ToTensors(device);
        lock (TorchRandom.Gate)
            return CurriculumTraining.ScoreDifficulty(_options, train.FeatureSize, train.EmbeddingSize, train.VocabularySize, device, trainTensors,
                validationTensors, _progress, _cancellationToken);
    }

    /// <summary>Adds the output columns to <paramref name="inputSchema"/>; rejects missing or wrongly typed input columns.</summary>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        InputColumns.RequireFloatVector(inputSchema, _options.FeatureColumnName, "heads' input (image features)");
        bool textLabel = inputSchema.Any(c => c.Name == _options.LabelColumnName)
            && inputSchema.Last(c => c.Name == _options.LabelColumnName) is { Kind: SchemaShape.Column.VectorKind.Scalar, ItemType: TextDataViewType };
        if (!textLabel)
        {
            InputColumns.RequireFloatVector(inputSchema, _options.LabelColumnName, "heads' input (label: prompt text or target embedding)");
            if (_options.Configuration != HeadConfiguration.Vanilla)
                InputColumns.RequireFloatVector(inputSchema, _options.VocabularyLabelsColumnName, "heads' input (vocabulary labels)");
        }
        var outputs = new List<(string, DataViewType)> { (_options.OutputColumnName, SchemaShapes.FloatVector) };
        if (_options.Configuration != HeadConfiguration.Vanilla)
        {
            outputs.Add((_options.ProbabilitiesColumnName, SchemaShapes.FloatVector));
            outputs.Add((ReverseSdModelFormat.VocabularyWordsColumnName, SchemaShapes.TextVector));
            outputs.Add((ReverseSdModelFormat.VocabularyFrequenciesColumnName, SchemaShapes.FloatVector));
        }
        outputs.Add((ReverseSdModelFormat.InfoColumnName, SchemaShapes.TextVector));
        return SchemaShapes.WithColumns(inputSchema, [.. outputs]);
    }

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

    /// <summary>Refuses features that cannot be the feature map <see cref="Options.FeatureMapChannels"/> says they are.</summary>
    private void CheckFeatureMap(int featureSize)
    {
        int k = _options.FeatureMapChannels;
        if (k > 0 && (featureSize % k != 0 || featureSize / k < 2))
            throw new ReverseSdInputException(
                $"Column '{_options.FeatureColumnName}' has {featureSize} values, which is not a feature map of {k} channels over several positions: " +
                "the learned spatial pooling needs a feature-map backbone (e.g. resnet18-map, 512 × 7 × 7); for pooled features set FeatureMapChannels to 0.");
    }

    internal static HeadsLoopSettings LoopSettings(Options o) =>
        new(o.VocabularyWeight, o.HuberWeight, o.Optimizer, o.LearningRate, o.BatchSize, o.WeightDecay, o.Seed);

    /// <summary>Seeds torch and builds the untrained network on <paramref name="device"/>.</summary>
    internal static PromptHeadsNetwork CreateNetwork(Options o, int featureSize, int embeddingSize, int vocabularySize, Device device)
    {
        torch.manual_seed(o.Seed);
        var network = new PromptHeadsNetwork(o.Configuration, featureSize, embeddingSize, vocabularySize, o.HiddenLayerSizes, o.Dropout,
            o.FeatureMapChannels > 0 ? (o.FeatureMapChannels, o.SpatialChannels, o.SpatialDropout) : null);
        network.to(device);
        return network;
    }

    /// <summary>Compiles the trained network into the ONNX-backed transformer.</summary>
    internal static PromptEmbeddingHeadsTransformer Compile(MLContext ml, PromptHeadsNetwork network, IReadOnlyList<string> words,
        IReadOnlyList<float>? frequencies, Options o, IDataView schemaSource, HeadsTrainingResult result)
    {
        var columns = new HeadsGraphColumns(o.FeatureColumnName, o.OutputColumnName, o.ProbabilitiesColumnName,
            ReverseSdModelFormat.VocabularyWordsColumnName, ReverseSdModelFormat.InfoColumnName);
        if (network.Configuration == HeadConfiguration.Vanilla || frequencies?.Count != words.Count) frequencies = null;
        byte[] onnx = PromptHeadsOnnxCompiler.Compile(network, words, columns, vocabularyFrequencies: frequencies);
        string[] outputs = network.Configuration == HeadConfiguration.Vanilla
            ? [columns.Embedding, columns.Info]
            : frequencies == null
                ? [columns.Embedding, columns.Probabilities, columns.Words, columns.Info]
                : [columns.Embedding, columns.Probabilities, columns.Words, ReverseSdModelFormat.VocabularyFrequenciesColumnName, columns.Info];
        var transformer = CompiledOnnxModel.Create(ml, onnx, outputs, [columns.Features], schemaSource);
        return new PromptEmbeddingHeadsTransformer(transformer, onnx, network.Configuration,
            network.Configuration == HeadConfiguration.Vanilla ? [] : words, result.Epochs, result.BestEpoch) { TrainingSteps = result.Steps, StoppedEarly = result.StoppedEarly };
    }

    /// <summary>Share of training rows whose multi-hot label of each word is set (the word's training frequency).</summary>
    internal static float[] LabelFrequencies(float[][] labels, int vocabularySize)
    {
        var sums = new double[vocabularySize];
        foreach (var row in labels)
            for (int j = 0; j < Math.Min(vocabularySize, row.Length); j++) sums[j] += row[j];
        return sums.Select(s => labels.Length == 0 ? 0f : (float)(s / labels.Length)).ToArray();
    }

    internal static Device ResolveDevice(HeadsDevice device) => device switch
    {
        HeadsDevice.Cpu => torch.CPU,
        HeadsDevice.Auto => torch.cuda.is_available() ? torch.CUDA : torch.CPU,
        HeadsDevice.Cuda => torch.cuda.is_available()
            ? torch.CUDA
            : throw new ReverseSdInputException("Device 'cuda' was asked for but libtorch sees no CUDA device; use 'cpu' or 'auto'."),
        _ => throw new ArgumentOutOfRangeException(nameof(device)),
    };

    /// <summary>
    /// Reads the training and validation rows: features, targets and vocabulary labels. A text label is embedded with the
    /// sentence encoder, and the vocabulary is built from the training prompts and labels both splits.
    /// </summary>
    private (HeadsColumns Train, HeadsColumns? Validation, IReadOnlyList<string> Words) ReadSplits(IDataView trainData, IDataView? validationData)
    {
        bool textLabel = trainData.Schema.GetColumnOrNull(_options.LabelColumnName)?.Type is TextDataViewType;
        trainData = CacheInputs(trainData);
        Vocabulary? vocabulary = null;
        if (textLabel && _options.Configuration != HeadConfiguration.Vanilla)
            vocabulary = Vocabulary.Build(ReadTexts(trainData, _options.LabelColumnName).Where(p => p.Length > 0), _options.VocabularySize);
        var train = ReadColumns(trainData, "training data", vocabulary);
        if (train.Count < 2) throw new ReverseSdInputException($"The training data has {train.Count} rows; the heads need at least 2.");
        CheckFeatureMap(train.FeatureSize);
        HeadsColumns? validation = null;
        if (validationData != null)
        {
            validation = ReadColumns(CacheInputs(validationData), "validation data", vocabulary);
            if (validation.FeatureSize != train.FeatureSize || validation.EmbeddingSize != train.EmbeddingSize || validation.VocabularySize != train.VocabularySize)
                throw new ReverseSdInputException("The validation data's column sizes differ from the training data's.");
        }
        var words = vocabulary?.Words ?? VocabularyWords(trainData.Schema, train.VocabularySize);
        return (train, validation, words);
    }

    /// <summary>The input columns cached, so an image backbone upstream runs once although the columns are read one by one.</summary>
    private IDataView CacheInputs(IDataView data)
    {
        var present = new[] { _options.FeatureColumnName, _options.LabelColumnName, _options.VocabularyLabelsColumnName }
            .Where(c => data.Schema.GetColumnOrNull(c) != null).Distinct().ToArray();
        return present.Length == 0 ? data : _mlContext.Data.Cache(data, present);
    }

    private HeadsColumns ReadColumns(IDataView data, string what, Vocabulary? vocabulary)
    {
        int featureSize = InputColumns.RequireFloatVector(data.Schema, _options.FeatureColumnName, $"heads' {what} (image features)");
        float[][] features = ReadVectors(data, _options.FeatureColumnName, what);
        if (data.Schema.GetColumnOrNull(_options.LabelColumnName)?.Type is TextDataViewType)
        {
            // Rows with an empty prompt (e.g. unlabelled target-domain images for DAKL further down a chain) are not trained on.
            var allPrompts = ReadTexts(data, _options.LabelColumnName);
            var labelled = Enumerable.Range(0, allPrompts.Count).Where(i => allPrompts[i].Length > 0).ToArray();
            var prompts = labelled.Select(i => allPrompts[i]).ToList();
            features = labelled.Select(i => features[i]).ToArray();
            float[][] targets = PromptEmbeddingMemo.Encode(_options.PromptEmbeddings, prompts,
                ProgressStages.Renamed(_progress, "embedding prompts: " + what), _cancellationToken);
            var labels = vocabulary == null ? null : prompts.Select(p => VocabularyLabelsDataView.DenseLabels(p, vocabulary)).ToArray();
            return new HeadsColumns(features, targets, labels, featureSize, SentenceEncoder.Dimension, vocabulary?.Count ?? 0);
        }
        int embeddingSize = InputColumns.RequireFloatVector(data.Schema, _options.LabelColumnName, $"heads' {what} (label: prompt text or target embedding)");
        int vocabularySize = _options.Configuration == HeadConfiguration.Vanilla
            ? 0 : InputColumns.RequireFloatVector(data.Schema, _options.VocabularyLabelsColumnName, $"heads' {what} (vocabulary labels)");
        return new HeadsColumns(features, ReadVectors(data, _options.LabelColumnName, what),
            vocabularySize == 0 ? null : ReadVectors(data, _options.VocabularyLabelsColumnName, what), featureSize, embeddingSize, vocabularySize);
    }

    private static List<string> ReadTexts(IDataView data, string column) =>
        data.GetColumn<ReadOnlyMemory<char>>(column).Select(t => t.ToString()).ToList();

    private IReadOnlyList<string> VocabularyWords(DataViewSchema schema, int vocabularySize)
    {
        if (vocabularySize == 0) return [];
        var column = schema[_options.VocabularyLabelsColumnName];
        if (column.HasSlotNames())
        {
            VBuffer<ReadOnlyMemory<char>> names = default;
            column.GetSlotNames(ref names);
            var dense = names.DenseValues().Select(n => n.ToString()).ToList();
            if (dense.Count == vocabularySize && dense.All(n => n.Length > 0)) return dense;
        }
        if (_options.VocabularyWords != null)
        {
            if (_options.VocabularyWords.Count != vocabularySize)
                throw new ReverseSdInputException(
                    $"Options.VocabularyWords has {_options.VocabularyWords.Count} words but column '{_options.VocabularyLabelsColumnName}' has {vocabularySize} slots.");
            return _options.VocabularyWords;
        }
        return Enumerable.Range(0, vocabularySize).Select(i => $"word_{i}").ToList();
    }

    private sealed record HeadsColumns(float[][] Features, float[][] Targets, float[][]? Labels, int FeatureSize, int EmbeddingSize, int VocabularySize)
    {
        public int Count => Features.Length;

        public HeadsTensors ToTensors(Device device) => new(Features, Targets, Labels, device);
    }


    internal static float[][] ReadVectors(IDataView data, string column, string what)
    {
        var rows = new List<float[]>();
        using var cursor = data.GetRowCursor([data.Schema[column]]);
        var getter = cursor.GetGetter<VBuffer<float>>(data.Schema[column]);
        VBuffer<float> buffer = default;
        while (cursor.MoveNext())
        {
            getter(ref buffer);
            var row = new float[buffer.Length];
            buffer.CopyTo(row);
            foreach (float v in row)
                if (!float.IsFinite(v))
                    throw new ReverseSdInputException($"Column '{column}' of the {what} holds a non-finite value in row {rows.Count}.");
            rows.Add(row);
        }
        return rows.ToArray();
    }
}
