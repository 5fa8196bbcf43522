using Microsoft.ML;
using Microsoft.ML.Data;

namespace ReverseSD.MLNet.Text;

/// <summary>Options of <see cref="VocabularyLabelingEstimator"/>.</summary>
public sealed class VocabularyLabelingOptions
{
    /// <summary>A copy, so that changing these options after an estimator is built changes nothing.</summary>
    internal VocabularyLabelingOptions Clone() => (VocabularyLabelingOptions)MemberwiseClone();

    /// <summary>Text column holding the prompt.</summary>
    public string InputColumnName { get; set; } = Defaults.InputColumnName;

    /// <summary>Output column: m floats, 1 where the vocabulary word occurs in the prompt, else 0.</summary>
    public string OutputColumnName { get; set; } = Defaults.OutputColumnName;

    /// <summary>Vocabulary size m used when <see cref="Vocabulary"/> is null and Fit builds it from the prompts.</summary>
    public int VocabularySize { get; set; } = Text.Vocabulary.DefaultSize;

    /// <summary>A vocabulary to use as is; null builds one from the training prompts at Fit.</summary>
    public Vocabulary? Vocabulary { get; set; }

    /// <summary>Default column names.</summary>
    public static class Defaults
    {
        /// <summary>"Prompt".</summary>
        public const string InputColumnName = ColumnNames.Prompt;

        /// <summary>"VocabularyLabels".</summary>
        public const string OutputColumnName = ColumnNames.VocabularyLabels;
    }
}

/// <summary>
/// Produces the multi-hot targets of the vocabulary head (paper §3, Eq. 2): label j is 1 when vocabulary word j occurs
/// as a whole word in the lower-cased prompt ("Cat" matches "cat"; the official code forgot to lower-case).
/// </summary>
/// <remarks>
/// | | |
/// |---|---|
/// | Input column | text: the prompt |
/// | Output column | vector of float, size m (0/1; slot names are the words) |
/// | Needs training data | yes, to build the vocabulary (unless one is given) |
/// | GPU | no |
///
/// The labels are needed only for training, so the fitted transformer is not saved in a model zip; store
/// <see cref="VocabularyLabelingTransformer.Vocabulary"/> with <see cref="Vocabulary.ToJson"/> instead.
/// </remarks>
public sealed class VocabularyLabelingEstimator : IEstimator<VocabularyLabelingTransformer>
{
    internal const string Role = "vocabulary labeler (prompts to label)";
    private readonly VocabularyLabelingOptions _options;

    /// <summary>Creates the estimator; prefer <see cref="VocabularyCatalog.ProduceVocabularyLabels(TransformsCatalog.TextTransforms, string, string, int)"/>.</summary>
    public VocabularyLabelingEstimator(VocabularyLabelingOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrWhiteSpace(options.InputColumnName, nameof(options.InputColumnName));
        ArgumentException.ThrowIfNullOrWhiteSpace(options.OutputColumnName, nameof(options.OutputColumnName));
        if (options.Vocabulary == null && options.VocabularySize < 1)
            throw new ArgumentOutOfRangeException(nameof(options), $"{nameof(options.VocabularySize)} must be at least 1 (the paper uses 1000), got {options.VocabularySize}.");
        _options = options.Clone();
    }

    /// <summary>The options this estimator was built with (a copy).</summary>
    internal VocabularyLabelingOptions Options => _options;

    /// <inheritdoc/>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        InputColumns.RequireText(inputSchema, _options.InputColumnName, Role);
        return SchemaShapes.WithColumns(inputSchema, (_options.OutputColumnName, SchemaShapes.FloatVector));
    }

    /// <inheritdoc/>
    public VocabularyLabelingTransformer Fit(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var column = InputColumns.RequireText(input.Schema, _options.InputColumnName, Role);
        var vocabulary = _options.Vocabulary
            ?? Vocabulary.Build(input.GetColumn<ReadOnlyMemory<char>>(column).Select(p => p.ToString()), _options.VocabularySize);
        return new VocabularyLabelingTransformer(vocabulary, _options.InputColumnName, _options.OutputColumnName);
    }
}

/// <summary>
/// The fitted vocabulary labeler (<see cref="VocabularyLabelingEstimator"/>): adds the multi-hot label column. Training-only:
/// <c>mlContext.Model.Save</c> on it throws <see cref="NotSupportedException"/>.
/// </summary>
public sealed class VocabularyLabelingTransformer : ITransformer
{
    internal VocabularyLabelingTransformer(Vocabulary vocabulary, string inputColumnName, string outputColumnName)
    {
        Vocabulary = vocabulary;
        InputColumnName = inputColumnName;
        OutputColumnName = outputColumnName;
    }

    /// <summary>The vocabulary whose words are the labels, in order.</summary>
    public Vocabulary Vocabulary { get; }

    /// <summary>The prompt column read.</summary>
    public string InputColumnName { get; }

    /// <summary>The label column added.</summary>
    public string OutputColumnName { get; }

    /// <inheritdoc/>
    public bool IsRowToRowMapper => false;

    /// <inheritdoc/>
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        InputColumns.RequireText(inputSchema, InputColumnName, VocabularyLabelingEstimator.Role);
        return VocabularyLabelsDataView.BuildSchema(inputSchema, OutputColumnName, Vocabulary);
    }

    /// <inheritdoc/>
    public IDataView Transform(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var column = InputColumns.RequireText(input.Schema, InputColumnName, VocabularyLabelingEstimator.Role);
        return new VocabularyLabelsDataView(input, column, OutputColumnName, Vocabulary);
    }

    /// <inheritdoc/>
    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema) =>
        throw new NotSupportedException("Vocabulary labels are a training-time target and have no row-to-row mapper; use Transform on the training data.");

    /// <inheritdoc/>
    void ICanSaveModel.Save(ModelSaveContext ctx) =>
        throw new NotSupportedException(
            "Vocabulary labels are needed only to train the vocabulary head and are not saved in a model zip; save the vocabulary with Vocabulary.ToJson() instead.");

    /// <summary>The label indices (ascending) of <paramref name="prompt"/>: the vocabulary words that occur in it as whole words, ignoring case.</summary>
    public IReadOnlyList<int> LabelIndices(string prompt) => VocabularyLabelsDataView.Labels(prompt, Vocabulary);
}

/// <summary>Catalog extension producing the vocabulary head's multi-hot targets (paper §3, Eq. 2).</summary>
public static class VocabularyCatalog
{
    /// <summary>Builds an m-word vocabulary from the training prompts at Fit and adds a 0/1 vector column marking the words each prompt contains.</summary>
    public static VocabularyLabelingEstimator ProduceVocabularyLabels(
        this TransformsCatalog.TextTransforms catalog,
        string outputColumnName = VocabularyLabelingOptions.Defaults.OutputColumnName,
        string inputColumnName = VocabularyLabelingOptions.Defaults.InputColumnName,
        int vocabularySize = Vocabulary.DefaultSize)
        => ProduceVocabularyLabels(catalog, new VocabularyLabelingOptions
        {
            OutputColumnName = outputColumnName,
            InputColumnName = inputColumnName,
            VocabularySize = vocabularySize,
        });

    /// <summary>Produces vocabulary labels as described by <paramref name="options"/> (e.g. with a given <see cref="Vocabulary"/>).</summary>
    public static VocabularyLabelingEstimator ProduceVocabularyLabels(this TransformsCatalog.TextTransforms catalog, VocabularyLabelingOptions options)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        return new VocabularyLabelingEstimator(options);
    }
}
