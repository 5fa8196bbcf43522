using Microsoft.ML;
using Microsoft.ML.Data;
using ReverseSD.MLNet.Backbones;
using ReverseSD.MLNet.Dakl;
using ReverseSD.MLNet.Ensemble;
using ReverseSD.MLNet.Heads;
using ReverseSD.MLNet.Retrieval;
using ReverseSD.MLNet.Text;

namespace ReverseSD.MLNet.Pipeline;

/// <summary>
/// The system of the paper as one ML.NET estimator: for each member backbone its <c>ApplyImageBackbone</c> and
/// <c>PromptEmbeddingHeads</c> (the raw Prompt text as label), then, for several members or DAKL, <c>CombineEmbeddings</c> and
/// <c>DomainAdaptiveKernel</c>, then <c>NearestPrompts</c> over the prompt bank. One <see cref="Fit(IDataView, IDataView)"/>
/// (rows with an empty Prompt are DAKL's unlabelled target domain; the validation rows pick each member's best epoch, the
/// ensemble's weights and DAKL's γ and α) and one <c>mlContext.Model.Save</c>; the zip scores in a plain ML.NET app.
/// </summary>
/// <remarks>
/// The facades (<see cref="ReverseSdModel.Train"/>, <see cref="ReverseSdEnsemble.Train"/>) train the same stages, built here,
/// on cached backbone features and prepend the fitted backbones, so the zip holds the same chain. DAKL that loses to the plain
/// ensemble on validation is left out of the fitted chain (its output column is then a copy of the ensemble embedding).
/// </remarks>
public sealed class ReverseSdPipeline : IEstimator<TransformerChain<ITransformer>>
{
    /// <summary>Nearest prompts returned per image by the prompt bank stage in the zip.</summary>
    public const int NearestPromptCount = 10;

    /// <summary>The label column of the chain: the prompt text (an empty prompt marks a target-domain row).</summary>
    private const string PromptColumn = ColumnNames.Prompt;

    private readonly MLContext _ml;
    private readonly ReverseSdEnsembleOptions _options;
    private readonly IReadOnlyList<ImageBackbone> _backbones;
    private readonly bool _isEnsemble;
    private readonly IProgress<ProgressReport>? _progress;
    private readonly CancellationToken _cancellationToken;

    private ReverseSdPipeline(MLContext mlContext, ReverseSdEnsembleOptions options, bool isEnsemble, IProgress<ProgressReport>? progress,
        CancellationToken cancellationToken)
    {
        _ml = mlContext;
        _options = options;
        _backbones = options.Members.Select(ReverseSdModel.Check).ToList();
        _isEnsemble = isEnsemble;
        _progress = progress;
        _cancellationToken = cancellationToken;
        if (options.PromptBank is not (ReverseSdTrainingOptions.TrainingPromptsBank or ReverseSdTrainingOptions.NoBank))
        {
            // A bank file is checked before any training: it exists, is a bank of this encoder, and fits in the zip.
            using var bank = PromptBank.Open(options.PromptBank);
            CheckBankSize($"'{options.PromptBank}'", bank.Count, bank.Dimension, Math.Max(0, bank.FileSize - bank.Count * bank.Dimension * sizeof(float)));
        }
    }

    /// <summary>The single model: the backbone and heads of <paramref name="options"/>, then the prompt bank of <see cref="ReverseSdTrainingOptions.PromptBank"/>.</summary>
    public static ReverseSdPipeline Create(MLContext mlContext, ReverseSdTrainingOptions options,
        IProgress<ProgressReport>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        ArgumentNullException.ThrowIfNull(options);
        var system = new ReverseSdEnsembleOptions { Members = [options], PromptBank = options.PromptBank, MaxPromptBankBytes = options.MaxPromptBankBytes };
        return new ReverseSdPipeline(mlContext, system, isEnsemble: false, progress, cancellationToken);
    }

    /// <summary>The full system: every member of <paramref name="options"/>, the ensemble, DAKL when asked, and the prompt bank.</summary>
    public static ReverseSdPipeline Create(MLContext mlContext, ReverseSdEnsembleOptions options,
        IProgress<ProgressReport>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        ArgumentNullException.ThrowIfNull(options);
        ReverseSdEnsemble.Check(options);
        return new ReverseSdPipeline(mlContext, options, isEnsemble: true, progress, cancellationToken);
    }

    /// <summary>The prompt embeddings shared by every stage of one Fit (each distinct prompt embedded once); cleared when a Fit ends.</summary>
    internal PromptEmbeddingMemo PromptEmbeddings { get; set; } = new();

    internal ReverseSdEnsembleOptions Options => _options;

    internal MLContext MLContext => _ml;

    internal IReadOnlyList<ImageBackbone> Backbones => _backbones;

    /// <summary>True for the ensemble form (member embedding copies, combiner, optional DAKL); false for one backbone and its heads.</summary>
    internal bool IsEnsemble => _isEnsemble;

    /// <summary>Name of a member's copied embedding column inside the saved chain (1-based).</summary>
    internal static string MemberColumnName(int member) => $"MemberEmbedding{member}";

    /// <inheritdoc/>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        var schema = inputSchema;
        for (int k = _backbones.Count - 1; k >= 0; k--)
        {
            schema = Backbone(k).GetOutputSchema(schema);
            schema = Heads(k).GetOutputSchema(schema);
            if (_isEnsemble) schema = CopyMember(k).GetOutputSchema(schema);
        }
        if (_isEnsemble)
        {
            schema = Combiner(null, PromptColumn).GetOutputSchema(schema);
            if (_options.UseDakl) schema = Dakl(null, null, PromptColumn).GetOutputSchema(schema);
        }
        // The bank's size does not change the schema: a one-prompt bank stands in for it (a bank file is read only by Fit).
        return _options.PromptBank == ReverseSdTrainingOptions.NoBank ? schema
            : _ml.Transforms.NearestPrompts(EmptyTextBank(), numberOfPrompts: NearestPromptCount).GetOutputSchema(schema);
    }

    /// <summary>Fits the system on <paramref name="input"/> (ImagePath, Prompt) without validation rows.</summary>
    public TransformerChain<ITransformer> Fit(IDataView input) => Fit(input, null);

    /// <summary>
    /// Fits the system on <paramref name="input"/>: rows with a prompt train every stage, rows with an empty prompt are DAKL's
    /// unlabelled target domain. <paramref name="validation"/> (ImagePath, Prompt), when given, flows through each fitted stage:
    /// the heads keep their best epoch on it, a weighted ensemble fits its weights on it, DAKL chooses γ and α on it (and is left
    /// out when it loses there to the plain ensemble).
    /// </summary>
    public TransformerChain<ITransformer> Fit(IDataView input, IDataView? validation)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (_options.Members.Any(m => m.FineTuning.Mode != FineTuning.BackboneFineTuning.None))
            throw new ReverseSdInputException(
                "Backbone fine-tuning runs in ReverseSdModel.Train and ReverseSdEnsemble.Train ('reversesd train --finetune'), which compute the images' layer-3 " +
                "activations once; this estimator chain trains the heads on a frozen backbone: set FineTuning.Mode to None here.");
        try
        {
            // The bank first: one too large for the zip is refused before anything is trained.
            var bank = BankStage(_options.PromptBank == ReverseSdTrainingOptions.TrainingPromptsBank ? input : null);
            IDataView train = input;
            IDataView? valid = validation;
            void Through(ITransformer t)
            {
                train = _ml.Data.Cache(t.Transform(train));
                if (valid != null) valid = _ml.Data.Cache(t.Transform(valid));
            }
            var members = new ITransformer[_backbones.Count][];
            for (int k = _backbones.Count - 1; k >= 0; k--)
            {
                _cancellationToken.ThrowIfCancellationRequested();
                var backbone = Backbone(k).Fit(train);
                Through(backbone);
                var heads = Heads(k).Fit(train, valid);
                members[k] = [backbone, heads];
                Through(heads);
                if (_isEnsemble) Through(CopyMember(k).Fit(train));
            }
            EmbeddingEnsembleTransformer? combiner = null;
            DomainAdaptiveKernelTransformer? dakl = null;
            if (_isEnsemble)
            {
                combiner = Combiner(valid, PromptColumn).Fit(train);
                Through(combiner);
                if (_options.UseDakl)
                {
                    dakl = Dakl(valid, null, PromptColumn).Fit(train);
                    if (!dakl.Selection.Used)
                    {
                        dakl.Dispose();
                        dakl = null;
                    }
                }
            }
            return Assemble(members.Select(m => (ITransformer)new TransformerChain<ITransformer>(m)).ToList(), combiner, dakl,
                bank?.Fit(new VectorTableDataView((ColumnNames.PredictedEmbedding, SentenceEncoder.Dimension, []))));
        }
        finally
        {
            PromptEmbeddings.Clear();
        }
    }

    /// <summary>Member <paramref name="member"/>'s image backbone: ImagePath → ImageFeatures.</summary>
    internal IEstimator<ITransformer> Backbone(int member) => _ml.Transforms.ApplyImageBackbone(_backbones[member]);

    /// <summary>
    /// Member <paramref name="member"/>'s heads trainer with the Prompt text label; with <paramref name="preparedVocabulary"/> or
    /// <paramref name="prepared"/>, the same heads reading the prepared columns (cached features, prompt embeddings and vocabulary labels).
    /// </summary>
    internal PromptEmbeddingHeadsTrainer Heads(int member, bool prepared = false, Vocabulary? preparedVocabulary = null, IProgress<ProgressReport>? progress = null)
    {
        var options = _options.Members[member].Heads.Clone();
        options.VocabularySize = _options.Members[member].VocabularySize;
        // A feature-map backbone (resnet18-map) feeds heads that learn its spatial pooling.
        if (_backbones[member].FeatureMapChannels > 0) options.FeatureMapChannels = _backbones[member].FeatureMapChannels;
        options.PromptEmbeddings = PromptEmbeddings;
        if (prepared)
        {
            options.FeatureColumnName = PreparedSplit.FeaturesColumn;
            options.LabelColumnName = PreparedSplit.TargetColumn;
            options.VocabularyLabelsColumnName = PreparedSplit.LabelsColumn;
            options.VocabularyWords = preparedVocabulary?.Words;
        }
        else
        {
            options.LabelColumnName = PromptColumn;
        }
        return _ml.Regression.Trainers.PromptEmbeddingHeads(options, progress ?? _progress, _cancellationToken);
    }

    /// <summary>Copies member <paramref name="member"/>'s PredictedEmbedding to its MemberEmbedding column (0-based member).</summary>
    internal IEstimator<ITransformer> CopyMember(int member) => _ml.Transforms.CopyColumns(MemberColumnName(member + 1), ColumnNames.PredictedEmbedding);

    /// <summary>The combiner of the members' embeddings; a weighted mean searches its weights on <paramref name="validation"/> (the fitted data when null).</summary>
    internal EmbeddingEnsembleEstimator Combiner(IDataView? validation, string labelColumn) => _ml.Transforms.CombineEmbeddings(new EmbeddingEnsembleOptions
    {
        InputColumnNames = Enumerable.Range(1, _backbones.Count).Select(MemberColumnName).ToArray(),
        OutputColumnName = _options.UseDakl ? ColumnNames.EnsembleEmbedding : ColumnNames.PredictedEmbedding,
        Combination = _options.Combination,
        ValidationData = validation,
        LabelColumnName = labelColumn,
        PromptEmbeddings = PromptEmbeddings,
    });

    /// <summary>
    /// DAKL on the ensemble embedding: γ and α chosen on <paramref name="validation"/> over the grids (validation selection with
    /// validation rows), else fixed (<paramref name="gamma"/>, <paramref name="alpha"/> override the options' fixed values).
    /// </summary>
    internal DomainAdaptiveKernelEstimator Dakl(IDataView? validation, IDataView? targetDomain, string labelColumn,
        float? gamma = null, float? alpha = null, IProgress<ProgressReport>? progress = null)
    {
        bool select = gamma == null && alpha == null && _options.DaklSelection == DaklSelectionMode.Validation && validation != null;
        return _ml.Regression.Trainers.DomainAdaptiveKernel(new DomainAdaptiveKernelOptions
        {
            InputColumnName = ColumnNames.EnsembleEmbedding,
            LabelColumnName = labelColumn,
            OutputColumnName = ColumnNames.PredictedEmbedding,
            TargetDomainData = targetDomain,
            ValidationData = select ? validation : null,
            GammaGrid = select ? _options.DaklGammaGrid : null,
            AlphaGrid = select ? _options.DaklAlphaGrid : null,
            NumberOfCentroids = _options.DaklCentroids,
            Gamma = gamma ?? _options.DaklGamma,
            Alpha = alpha ?? _options.DaklAlpha,
            Seed = _options.Members[0].Heads.Seed,
            Progress = progress ?? _progress,
            PromptEmbeddings = PromptEmbeddings,
        });
    }

    /// <summary>
    /// The NearestPrompts stage over the prompt bank of <see cref="ReverseSdEnsembleOptions.PromptBank"/>: null for "none";
    /// <paramref name="trainingPrompts"/> (a Prompt column, with or without a PromptEmbedding column) for "train"; the bank file otherwise.
    /// A bank too large for the zip is refused before anything is read.
    /// </summary>
    internal NearestPromptsEstimator? BankStage(IDataView? trainingPrompts)
    {
        string source = _options.PromptBank;
        if (source == ReverseSdTrainingOptions.NoBank) return null;
        IDataView bank;
        if (source == ReverseSdTrainingOptions.TrainingPromptsBank)
        {
            bank = trainingPrompts ?? EmptyTextBank();
            var prompts = bank.GetColumn<ReadOnlyMemory<char>>(PromptColumn).Select(p => p.ToString()).Where(p => p.Length > 0)
                .Distinct(StringComparer.Ordinal).ToList();
            CheckBankSize("the training prompts", prompts.Count, SentenceEncoder.Dimension, prompts.Sum(p => (long)System.Text.Encoding.UTF8.GetByteCount(p)));
        }
        else
        {
            bank = ReadBankFile(source);
        }
        return _ml.Transforms.NearestPrompts(bank, new NearestPromptsOptions { NumberOfPrompts = NearestPromptCount, PromptEmbeddings = PromptEmbeddings });
    }

    /// <summary>
    /// The saved chain: members last to first (so the first member's vocabulary columns and ModelInfo stay visible), for an
    /// ensemble each member's embedding copied to its own column, the combiner and DAKL writing PredictedEmbedding (a copy of
    /// the ensemble embedding when DAKL was asked for but left out), then the prompt bank.
    /// </summary>
    internal TransformerChain<ITransformer> Assemble(IReadOnlyList<ITransformer> members, EmbeddingEnsembleTransformer? combiner,
        DomainAdaptiveKernelTransformer? dakl, NearestPromptsTransformer? bank)
    {
        var stages = new List<ITransformer>();
        int d = SentenceEncoder.Dimension;
        for (int k = members.Count - 1; k >= 0; k--)
        {
            stages.AddRange(members[k] is TransformerChain<ITransformer> memberChain ? memberChain : [members[k]]);
            if (_isEnsemble) stages.Add(CopyMember(k).Fit(new VectorTableDataView((ColumnNames.PredictedEmbedding, d, []))));
        }
        if (combiner != null) stages.Add(combiner);
        if (dakl != null) stages.Add(dakl);
        else if (_isEnsemble && _options.UseDakl)
            stages.Add(_ml.Transforms.CopyColumns(ColumnNames.PredictedEmbedding, ColumnNames.EnsembleEmbedding).Fit(new VectorTableDataView((ColumnNames.EnsembleEmbedding, d, []))));
        if (bank != null) stages.Add(bank);
        return new TransformerChain<ITransformer>(stages.ToArray());
    }

    /// <summary>Refuses a bank whose vectors and text pass the zip's limit (ONNX protobufs stop at 2 GB), naming the fix.</summary>
    private void CheckBankSize(string what, long count, int dimension, long textBytes)
    {
        if (count == 0)
            throw new ReverseSdInputException($"The prompt bank for the model zip ({what}) is empty: give --bank a bank with prompts, or --bank none.");
        long bytes = count * dimension * sizeof(float) + textBytes;
        if (bytes > _options.MaxPromptBankBytes)
            throw new ReverseSdInputException(
                $"The prompt bank ({what}: {count} prompts, {bytes / 1e6:F1} MB) is too large for the model zip (ONNX protobufs stop at 2 GB): " +
                "train with --bank none and pass the bank at prediction time ('reversesd predict --bank BANK', built with 'reversesd bank build').");
    }

    /// <summary>A bank file's prompts and vectors as a data view, after checking that they fit in the zip.</summary>
    private IDataView ReadBankFile(string path)
    {
        using var bank = PromptBank.Open(path);
        var rows = new List<BankRow>((int)bank.Count);
        for (long i = 0; i < bank.Count; i++) rows.Add(new BankRow { Prompt = bank.Prompt(i), PromptEmbedding = bank.Vector(i) });
        return BankView(rows, bank.Dimension);
    }

    /// <summary>Bank rows (prompt + its embedding) as a data view with a known-size vector column.</summary>
    internal IDataView BankView(IEnumerable<BankRow> rows, int dimension)
    {
        var definition = SchemaDefinition.Create(typeof(BankRow));
        definition[nameof(BankRow.PromptEmbedding)].ColumnType = new VectorDataViewType(NumberDataViewType.Single, dimension);
        return _ml.Data.LoadFromEnumerable(rows, definition);
    }

    private IDataView EmptyTextBank() => _ml.Data.LoadFromEnumerable(new[] { new TextRow { Prompt = "a prompt" } });

    /// <summary>One prompt of a bank with its embedding.</summary>
    internal sealed class BankRow
    {
        public string Prompt { get; set; } = "";

        public float[] PromptEmbedding { get; set; } = [];
    }

    private sealed class TextRow
    {
        public string Prompt { get; set; } = "";
    }
}
