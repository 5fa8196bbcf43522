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
public sealed partial class PromptEmbeddingHeadsTrainer : IEstimator<PromptEmbeddingHeadsTransformer>
{
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
